-- kura PostgreSQL key store, schema version 2: canary subjects (issue 5). Kept in the key
-- schema, which the data reader role cannot see, so that a data dump cannot tell a canary
-- from a real subject.
CREATE TABLE kura_keys.canaries (
    iid        bigint PRIMARY KEY,
    collection text NOT NULL
);
