-- gmem store, schema 2: the `retract` op (docs/STORE.md, "Retracted batches").
--
-- A retraction is an event of the log: it records that a batch was read wrongly (a wrong
-- --vm, a wrong --kernel) and names the batch's seqs and the chain hash of its last event, so
-- that every replay skips those events while they stay in the log as evidence. `digest` holds
-- that hash; no other op uses the column.
INSERT INTO op(code, name) VALUES (21, 'retract');
ALTER TABLE event ADD COLUMN digest BLOB;    -- retract: the hash of the last retracted event
-- Every replay asks for the retractions first: a seek, not a scan of the log.
CREATE INDEX event_retraction ON event(seq) WHERE op = 21;
