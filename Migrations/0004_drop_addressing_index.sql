-- gmem store, schema 4: the partial index `event_addressing_op` dropped (docs/STORE.md).
--
-- No query reads it: it was kept for a frame history that the frame index (`frame_event`)
-- answers. And its predicate, `op IN (6, 18, 19)`, is evaluated for every inserted event row
-- by building a temporary b-tree of the three codes (`OpenEphemeral` in the insert's program):
-- about a third of the cost of an event insert, for nothing (docs/PERFORMANCE.md, Round 6).
-- Nothing else changes, so a build of this schema reads a schema-3 store as it is
-- (`Migrator.readableFrom`).
DROP INDEX IF EXISTS event_addressing_op;
