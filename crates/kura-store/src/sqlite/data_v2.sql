-- kura embedded data store, schema version 2: organizations, principals and containment
-- incidents (issue 5). None of it is a subject's personal data; the officer's name and
-- contact are an organization's published security contact.
CREATE TABLE organizations (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('holder', 'processor')),
    supervisor      TEXT REFERENCES organizations (id),
    officer_name    TEXT NOT NULL CHECK (length(officer_name) > 0),
    officer_contact TEXT NOT NULL CHECK (length(officer_contact) > 0),
    created_at      INTEGER NOT NULL
);
CREATE TABLE principals (
    id               TEXT PRIMARY KEY,
    org              TEXT NOT NULL REFERENCES organizations (id),
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    subject          BLOB,
    policies         TEXT NOT NULL,
    policy_version   INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    suspended_at     INTEGER,
    suspended_reason TEXT,
    reinstated_at    INTEGER,
    UNIQUE (org, name)
);
CREATE INDEX api_keys_principal ON api_keys (principal);
CREATE TABLE incidents (
    id        TEXT PRIMARY KEY,
    opened_at INTEGER NOT NULL,
    principal TEXT NOT NULL,
    org       TEXT,
    trigger   TEXT NOT NULL,
    status    TEXT NOT NULL,
    body      TEXT NOT NULL
);
