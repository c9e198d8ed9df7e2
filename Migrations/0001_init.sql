-- gmem store, schema version 1: the event log, its batches, rejects and state snapshots.
-- Never edit this file once landed: add 0002_….sql instead.

-- One ingest (a file, stdin, a merged set of files, or one library append).
CREATE TABLE batch (
    id            INTEGER PRIMARY KEY,
    source        TEXT    NOT NULL,           -- path as given, '<stdin>', or '<api>'
    format        TEXT    NOT NULL,           -- jsonl, ftrace, qemu, api
    content_hash  BLOB,                       -- SHA-256 of the input bytes (NULL for api)
    started_at    TEXT    NOT NULL,           -- wall clock, RFC 3339
    first_seq     INTEGER,
    last_seq      INTEGER,
    added         INTEGER NOT NULL DEFAULT 0,
    skipped       INTEGER NOT NULL DEFAULT 0, -- duplicate producer ids
    rejected      INTEGER NOT NULL DEFAULT 0  -- lines sent to the reject table (--quarantine)
) STRICT;
CREATE INDEX batch_content ON batch(content_hash);

-- The evidence: append-only, hash-chained. hash = SHA-256(previous hash || body), the first
-- event chains from 32 zero bytes. body is the event's canonical JSON.
CREATE TABLE event (
    seq           INTEGER PRIMARY KEY,        -- 1, 2, 3 … gap-free, in commit order
    batch         INTEGER NOT NULL REFERENCES batch(id),
    ts            INTEGER,                    -- nanoseconds; NULL when the event had no ts
    op            TEXT    NOT NULL,
    host          TEXT    NOT NULL,
    producer_id   TEXT,                       -- the producer's `id`, unique when present
    body          TEXT    NOT NULL,
    hash          BLOB    NOT NULL,
    expected      TEXT,                       -- the model's outcome; NULL when unresolved
    expected_error_offset INTEGER,
    diverged      INTEGER NOT NULL            -- 1 when the observed result differs from expected
) STRICT;
CREATE UNIQUE INDEX event_producer_id ON event(producer_id) WHERE producer_id IS NOT NULL;
CREATE INDEX event_ts ON event(ts) WHERE ts IS NOT NULL;
-- The few ops that name frames or bindings, for history by pfn and by gpa.
CREATE INDEX event_addressing_op ON event(op) WHERE op IN ('bind', 'populate', 'reuse', 'mce');

CREATE TRIGGER event_is_append_only_update BEFORE UPDATE ON event
BEGIN
    SELECT RAISE(ABORT, 'gmem: the event log is append-only (UPDATE refused)');
END;
CREATE TRIGGER event_is_append_only_delete BEFORE DELETE ON event
BEGIN
    SELECT RAISE(ABORT, 'gmem: the event log is append-only (DELETE refused)');
END;

-- The file pages each event resolved to (one row per piece), written with the event: the
-- state change's footprint, for history queries.
CREATE TABLE event_touch (
    seq           INTEGER NOT NULL REFERENCES event(seq),
    gmem          TEXT    NOT NULL,
    page_lo       INTEGER NOT NULL,
    page_hi       INTEGER NOT NULL            -- exclusive
) STRICT;
CREATE INDEX event_touch_gmem ON event_touch(gmem, page_lo);
CREATE INDEX event_touch_seq ON event_touch(seq);

-- Undecodable lines kept by `ingest --quarantine`.
CREATE TABLE reject (
    id            INTEGER PRIMARY KEY,
    batch         INTEGER NOT NULL REFERENCES batch(id),
    source        TEXT    NOT NULL,
    line          INTEGER NOT NULL,
    text          TEXT    NOT NULL,
    reason        TEXT    NOT NULL
) STRICT;

-- The engine state after `seq` (derived data: `verify` checks it against a replay).
CREATE TABLE snapshot (
    seq           INTEGER PRIMARY KEY,
    state         BLOB    NOT NULL
) STRICT;
