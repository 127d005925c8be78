-- kura PostgreSQL key store, schema version 3: the card vault's secrets (issue 7). Runs as
-- the keys owner. Per-card data keys wrapped under the card key-encryption key, the PAN and
-- holder sealed under them, and the keyed lookup hash of subject and whole PAN. No
-- truncated PAN (first six, last four) is kept in this schema.
CREATE TABLE kura_keys.card_keys (
    subject_id    uuid NOT NULL,
    token         text NOT NULL,
    kek_version   integer NOT NULL,
    wrapped       bytea NOT NULL,
    sealed_pan    bytea NOT NULL,
    sealed_holder bytea NOT NULL,
    PRIMARY KEY (subject_id, token)
);
CREATE UNIQUE INDEX card_keys_token ON kura_keys.card_keys (token);
CREATE TABLE kura_keys.card_lookup (
    subject_id uuid NOT NULL,
    lookup     bytea NOT NULL,
    token      text NOT NULL,
    PRIMARY KEY (subject_id, lookup)
);
