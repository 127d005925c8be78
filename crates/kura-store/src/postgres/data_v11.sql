-- kura_data, schema version 11: every table distributable (issue 21, docs/scale-out.md).
--
-- The blind index carries each entry's collection and internal id, so a search reads this
-- one table: on Citus it is distributed by `token`, and a search is one shard instead of a
-- probe of every shard followed by a join.
ALTER TABLE kura_data.blind_index ADD COLUMN collection text, ADD COLUMN iid bigint;
UPDATE kura_data.blind_index b SET collection = s.collection, iid = s.iid
  FROM kura_data.subjects s WHERE s.subject_id = b.subject_id;
-- An entry without its subject cannot be found by a search today either (the search joined
-- the subject); none is expected, since both are written and deleted in one transaction.
DELETE FROM kura_data.blind_index WHERE collection IS NULL;
ALTER TABLE kura_data.blind_index ALTER COLUMN collection SET NOT NULL,
                                  ALTER COLUMN iid SET NOT NULL;
-- Card tokens: a unique index on `token` alone cannot be distributed by subject. A token is
-- 128 random bits, unique by construction; its uniqueness as a constraint, and the way from
-- a token to its subject, move to `card_index`, keyed (and on Citus distributed) by token.
-- The card tables stay keyed by (subject_id, token).
DROP INDEX kura_data.cards_token;
CREATE TABLE kura_data.card_index (
    token      text PRIMARY KEY,
    subject_id uuid NOT NULL
);
INSERT INTO kura_data.card_index (token, subject_id)
  SELECT token, subject_id FROM kura_data.cards;
