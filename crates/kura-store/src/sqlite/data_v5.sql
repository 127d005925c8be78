-- kura embedded data store, schema version 5: nothing changes here; the seal epochs of
-- version 5 live in keys.db (see keys_v4.sql).
SELECT 1;
