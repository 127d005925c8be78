-- kura PostgreSQL key store, schema version 6: nothing changes here (version 6 adds the
-- weight of containment entries, see data_v6.sql).
SELECT 1;
