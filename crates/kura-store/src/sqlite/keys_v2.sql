-- kura embedded key store, schema version 2: canary subjects (issue 5). Kept with the keys,
-- not with the data, so that a dump of data.db cannot tell a canary from a real subject.
CREATE TABLE canaries (
    iid        INTEGER PRIMARY KEY,
    collection TEXT NOT NULL
);
