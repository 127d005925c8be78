-- kura embedded key store, schema version 8: nothing changes here (see data_v8.sql).
SELECT 1;
