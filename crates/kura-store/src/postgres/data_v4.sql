-- kura PostgreSQL data store, schema version 4: nothing changes here; the seal epochs of
-- version 4 live in kura_keys (see keys_v4.sql).
SELECT 1;
