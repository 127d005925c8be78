-- kura embedded data store, schema version 9: data-subject requests and retention
-- (kura_admin::rights). A request row is the minimal record kept of a request (CCPA regs
-- §7101: 24 months): ids, kind, dates, state and a JSON document owned by kura_admin::rights
-- (deadlines, how identity was verified, decision, recipients told) — never a field value.
-- The one-time token is kept only as a keyed hash, and only until it is redeemed.
CREATE TABLE rights_requests (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    collection    TEXT NOT NULL,
    subject       BLOB,
    channel       TEXT NOT NULL,
    state         TEXT NOT NULL,
    opened_by     TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    token_hash    BLOB UNIQUE CHECK (token_hash IS NULL OR length(token_hash) = 32),
    token_expires INTEGER,
    cycle         TEXT,
    version       INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    doc           TEXT NOT NULL,
    receipt       BLOB
);
CREATE INDEX rights_requests_state ON rights_requests (state, due_at);
CREATE INDEX rights_requests_cycle ON rights_requests (cycle, state, id) WHERE cycle IS NOT NULL;
CREATE INDEX rights_requests_subject ON rights_requests (subject) WHERE subject IS NOT NULL;
-- A retention cycle asks a person once: one request per subject and cycle.
CREATE UNIQUE INDEX rights_requests_once ON rights_requests (subject, cycle)
    WHERE cycle IS NOT NULL;
-- When a subject last used the service (a login, a reconfirmation, a verified request) and
-- when a retention rule last asked it to reconfirm: timestamps per public id, removed with
-- the subject. Asked at or after its last use means asked in this cycle.
CREATE TABLE subject_activity (
    subject   BLOB PRIMARY KEY,
    active_at INTEGER NOT NULL,
    asked_at  INTEGER
) WITHOUT ROWID;
