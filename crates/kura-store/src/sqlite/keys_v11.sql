-- kura embedded key store, schema version 11: nothing changes here.
SELECT 1;
