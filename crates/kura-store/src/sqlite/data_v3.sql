-- kura embedded data store, schema version 3: card vault metadata (issue 7). Only what
-- PCI DSS 3.4.1 allows to be shown: brand, last four digits, expiry. The PAN, the holder
-- and the lookup hash live in keys.db.
CREATE TABLE cards (
    token       TEXT PRIMARY KEY,
    subject     BLOB NOT NULL,
    subject_iid INTEGER NOT NULL,
    collection  TEXT NOT NULL,
    brand       TEXT NOT NULL,
    last4       TEXT NOT NULL,
    exp_month   INTEGER NOT NULL,
    exp_year    INTEGER NOT NULL,
    created     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX cards_subject ON cards (subject);
