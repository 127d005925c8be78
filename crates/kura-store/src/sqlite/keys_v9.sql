-- kura embedded key store, schema version 9: restriction of processing (GDPR Art. 18) is a
-- flag beside the subject's data key, read with the key on every load and kept where a copy
-- or a writer of the data store alone cannot lift it.
ALTER TABLE data_keys ADD COLUMN restricted INTEGER NOT NULL DEFAULT 0;
