-- kura PostgreSQL key store, schema version 5: the seal epoch of each subject (issue 13,
-- docs/decisions/0010). The vault seals a manifest of every row at an epoch and raises this
-- counter after each write; a row sealed below it (an older row put back into kura_data) is
-- refused. Kept in kura_keys, which the data owner role cannot write. Existing subjects keep
-- epoch 0 (rows without a manifest); new subjects start at 1.
ALTER TABLE kura_keys.data_keys ADD COLUMN epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE kura_keys.data_keys ALTER COLUMN epoch SET DEFAULT 1;
