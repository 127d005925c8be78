-- kura PostgreSQL key store, schema version 4: nothing changes in the key store.
SELECT 1;
