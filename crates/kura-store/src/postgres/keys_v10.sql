-- kura PostgreSQL key store, schema version 10: key rotation counts wrapped data keys per
-- key-encryption-key version and finds those not yet re-wrapped.
CREATE INDEX data_keys_kek ON kura_keys.data_keys (kek_version);
