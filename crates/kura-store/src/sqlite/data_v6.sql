-- kura embedded data store, schema version 6: nothing changes here; the admission leases of
-- version 6 live in contain.db, which gets its weight column when it is opened.
SELECT 1;
