-- kura embedded data store, schema version 11: nothing changes here (the PostgreSQL
-- schema became distributable on Citus; this store keeps its layout).
SELECT 1;
