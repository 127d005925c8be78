-- kura_keys, schema version 11: the card keys' global unique index on `token` goes (it
-- cannot be distributed by subject); `kura_data.card_index` holds token uniqueness now.
DROP INDEX kura_keys.card_keys_token;
