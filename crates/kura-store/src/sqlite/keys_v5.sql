-- kura embedded key store, schema version 5: the seal epoch of each subject (issue 13,
-- docs/decisions/0010). The vault seals a manifest of every row at an epoch and raises this
-- counter after each write; a row sealed below it (an older row put back into data.db) is
-- refused. Kept here, not in data.db, so that whoever can write data.db cannot roll it back.
-- Subjects written before this version keep epoch 0 (rows without a manifest).
ALTER TABLE data_keys ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
