-- kura embedded data store, schema version 1. Holds sealed fields, blind-index tokens and
-- the access log; never a plaintext field and never a key.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    next INTEGER NOT NULL
);
INSERT INTO counters (name, next) VALUES ('iid', 1);
CREATE TABLE subjects (
    iid        INTEGER PRIMARY KEY,
    id         BLOB NOT NULL UNIQUE,
    collection TEXT NOT NULL,
    country    TEXT NOT NULL,
    locale     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    fields     BLOB NOT NULL,
    tokens     BLOB NOT NULL
);
-- A token is an HMAC under a per-(collection, field) key, so it names its field implicitly.
CREATE TABLE blind_index (
    token BLOB NOT NULL,
    iid   INTEGER NOT NULL,
    PRIMARY KEY (token, iid)
) WITHOUT ROWID;
CREATE TABLE audit_log (
    seq  INTEGER PRIMARY KEY,
    leaf BLOB NOT NULL
);
CREATE TABLE api_keys (
    prefix     TEXT PRIMARY KEY,
    hash       BLOB NOT NULL,
    principal  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
-- Access-log integration (kura-audit): the stored hashes of the RFC 6962 tree (write-once,
-- indexed as in kura-tlog's stored-hash layout), signed checkpoints by tree size, and the
-- subject-history index (which leaves touched which subject). The integrated size is the
-- counter 'audit_integrated'.
CREATE TABLE audit_hashes (
    idx  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
CREATE TABLE audit_checkpoints (
    size INTEGER PRIMARY KEY,
    note TEXT NOT NULL
);
CREATE TABLE audit_subjects (
    iid INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (iid, seq)
) WITHOUT ROWID;
INSERT INTO counters (name, next) VALUES ('audit_integrated', 0);
-- Credentials (issue 6): login throttling and the forced-reset flag per subject (or per
-- pseudo-subject for login ids that match no subject), and recovery tokens stored only as
-- SHA-256 hashes. The password hash itself is a sealed field of the subject.
CREATE TABLE credential_state (
    subject      BLOB PRIMARY KEY,
    version      INTEGER NOT NULL,
    failures     INTEGER NOT NULL,
    last_failure INTEGER NOT NULL,
    locked       INTEGER NOT NULL,
    must_reset   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE recovery_tokens (
    hash       BLOB PRIMARY KEY,
    subject    BLOB NOT NULL,
    collection TEXT NOT NULL,
    issued     INTEGER NOT NULL,
    expires    INTEGER NOT NULL,
    used       INTEGER NOT NULL
);
CREATE INDEX recovery_tokens_subject ON recovery_tokens (subject, issued);
