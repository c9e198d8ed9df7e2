-- gmem store, schema 5: the event log packed for replay (docs/STORE.md, "Event packs").
--
-- A row holds the integer columns of 1024 consecutive events (seqs block * 1024 + 1 … block *
-- 1024 + 1024) in one zstd frame (`EventPack`): a replay steps one row per 1024 events instead of
-- decoding the 25 columns of each. Derived data, outside the hash chain like the page index:
-- written from the event rows in the batch's transaction, checked against them by `verify`.
-- Only whole blocks are packed; the events after the last one are read from their rows. The
-- writing open that applies this migration packs the rows the store already holds, in the same
-- transaction (`Migrator`, `EventPack.packStoredRows`).
CREATE TABLE event_pack (
    block         INTEGER PRIMARY KEY,        -- seqs block * 1024 + 1 … block * 1024 + 1024
    events        BLOB    NOT NULL            -- zstd frame of their integer columns
) STRICT;

CREATE TRIGGER event_pack_is_append_only_update BEFORE UPDATE ON event_pack
BEGIN
    SELECT RAISE(ABORT, 'gmem: event packs are append-only (UPDATE refused)');
END;
CREATE TRIGGER event_pack_is_append_only_delete BEFORE DELETE ON event_pack
BEGIN
    SELECT RAISE(ABORT, 'gmem: event packs are append-only (DELETE refused)');
END;
