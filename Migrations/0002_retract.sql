-- gmem store, schema 2: the `gap` and `retract` ops (docs/STORE.md, "The op table",
-- "Retracted batches"). OR IGNORE: a writing open appends the build's op rows a store lacks
-- (Store.appendNewOps), which may already have added them.
--
-- A retraction is an event of the log: it records that a batch was read wrongly (a wrong
-- --vm, a wrong --kernel) and names the batch's seqs and the chain hash of its last event, so
-- that every replay skips those events while they stay in the log as evidence. `digest` holds
-- that hash; no other op uses the column.
INSERT OR IGNORE INTO op(code, name) VALUES (21, 'gap'), (22, 'retract');
ALTER TABLE event ADD COLUMN digest BLOB;    -- retract: the hash of the last retracted event
-- Every replay asks for the retractions first: a seek, not a scan of the log.
CREATE INDEX event_retraction ON event(seq) WHERE op = 22;
