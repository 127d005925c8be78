-- kura embedded key store, schema version 3: the card vault's secrets (issue 7). Each row
-- holds a per-card data key wrapped under the card key-encryption key and the PAN and
-- holder sealed under that data key; the lookup table maps a keyed HMAC of subject and
-- whole PAN to its token. No truncated PAN (first six, last four) is kept in this file.
CREATE TABLE card_keys (
    token         TEXT PRIMARY KEY,
    subject       BLOB NOT NULL,
    kek_version   INTEGER NOT NULL,
    wrapped       BLOB NOT NULL,
    sealed_pan    BLOB NOT NULL,
    sealed_holder BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX card_keys_subject ON card_keys (subject);
CREATE TABLE card_lookup (
    lookup  BLOB PRIMARY KEY,
    token   TEXT NOT NULL UNIQUE,
    subject BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX card_lookup_subject ON card_lookup (subject);
