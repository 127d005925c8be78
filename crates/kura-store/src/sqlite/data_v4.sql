-- kura embedded data store, schema version 4: nothing changes here; the seal epochs of
-- version 4 live in keys.db (see keys_v4.sql).
SELECT 1;
