-- kura embedded key store, schema version 7: nothing changes here (see data_v7.sql).
SELECT 1;
