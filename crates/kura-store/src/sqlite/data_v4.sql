-- kura embedded data store, schema version 4: nothing changes in data.db. The containment
-- windows of version 4 (issue 13) live in their own file, contain.db, created when the store
-- is opened, so that counting a read does not invalidate data.db's readers' page caches.
SELECT 1;
