-- kura PostgreSQL key store, schema version 9: restriction of processing (GDPR Art. 18) is a
-- flag beside the subject's data key, read with the key on every load and kept where the
-- data owner (and a copy of the data schema) cannot lift it.
ALTER TABLE kura_keys.data_keys ADD COLUMN restricted boolean NOT NULL DEFAULT false;
