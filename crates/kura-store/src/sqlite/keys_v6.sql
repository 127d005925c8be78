-- kura embedded key store, schema version 6: nothing changes here (see data_v6.sql).
SELECT 1;
