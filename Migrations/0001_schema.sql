-- gmem store, schema 1: the whole schema in one file. From this release on a migration is never
-- edited: a change is a new numbered file. docs/STORE.md explains every table.
--
-- The evidence is the event table (typed rows, hash-chained) and the bytes of every input as
-- given (input, input_chunk). Everything else is derived and `gmem-audit verify` recomputes it:
-- the page and frame indexes, snapshots, Merkle roots, the ts indexes, the findings.

-- The vocabulary: one row per operation of EVENTS.md §2, code = the event table's `op`.
-- Filled here; rows are only ever appended (a code is never renumbered or reused). A store
-- made by an earlier build lacks the newer rows: its first writing open appends them
-- (`Store.appendNewOps`), and `verify` accepts a table that is a prefix of the build's as long
-- as every event's code is named in it (docs/STORE.md "The op table").
CREATE TABLE op (
    code          INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE
) STRICT;
INSERT INTO op(code, name) VALUES
    (1, 'vm_create'), (2, 'vm_destroy'), (3, 'vm_bugged'), (4, 'gmem_create'), (5, 'gmem_close'),
    (6, 'bind'), (7, 'unbind'), (8, 'populate'), (9, 'punch_hole'), (10, 'map'), (11, 'zap'),
    (12, 'convert_request'), (13, 'convert'), (14, 'accept'), (15, 'pin'), (16, 'release'),
    (17, 'host_access'), (18, 'reuse'), (19, 'mce'), (20, 'context'),
    (21, 'gap');

-- Interned strings: VM and gmem names, hosts, actors, results, labels, source file names. An
-- event names them by id. Append-only like the log; a changed text changes the canonical body
-- of every event that names it, which `verify` catches through the hash chain.
CREATE TABLE name (
    id            INTEGER PRIMARY KEY,
    text          TEXT    NOT NULL UNIQUE
) STRICT;

-- One ingest: a file, stdin, a merged set of files, or one library append.
CREATE TABLE batch (
    id            INTEGER PRIMARY KEY,
    source        TEXT    NOT NULL,           -- path as given, '<stdin>', or '<api>'
    format        TEXT    NOT NULL,           -- how it was read: jsonl, ftrace, qemu, api, merge, upgrade
    read_as       TEXT    NOT NULL DEFAULT '',-- the options that shaped the events (format, vm, kernel …)
    content_hash  BLOB,                       -- SHA-256 of the input bytes as given (NULL for api)
    started_at    TEXT    NOT NULL,           -- wall clock, RFC 3339
    first_seq     INTEGER,
    last_seq      INTEGER,
    added         INTEGER NOT NULL DEFAULT 0,
    skipped       INTEGER NOT NULL DEFAULT 0, -- duplicate producer ids
    rejected      INTEGER NOT NULL DEFAULT 0  -- lines sent to the reject table (--quarantine)
) STRICT;
CREATE INDEX batch_content ON batch(content_hash) WHERE content_hash IS NOT NULL;

-- The bytes of each input of a batch, as given (a .gz stays its compressed bytes; stdin as
-- read), in chunks compressed with zstd. `export --original` gives them back byte for byte;
-- `verify` checks them against `content_hash`.
CREATE TABLE input (
    id            INTEGER PRIMARY KEY,
    batch         INTEGER NOT NULL REFERENCES batch(id),
    name          TEXT    NOT NULL,           -- path as given, or '<stdin>'
    size          INTEGER NOT NULL,           -- bytes as given
    compression   TEXT    NOT NULL,           -- none, gzip or zstd: how the bytes as given were compressed
    lines         INTEGER NOT NULL,           -- lines read (after decompression)
    lf_lines      INTEGER NOT NULL,           -- 1 when its lines are exactly its LF-ended lines (no lone CR): a line is then found from its chunk
    content_hash  BLOB    NOT NULL            -- SHA-256 of those bytes
) STRICT;
CREATE INDEX input_batch ON input(batch);
CREATE TABLE input_chunk (
    input         INTEGER NOT NULL REFERENCES input(id),
    idx           INTEGER NOT NULL,           -- 0, 1, 2 … in byte order
    first_line    INTEGER NOT NULL,           -- the line the chunk's first byte belongs to (0 for a compressed input)
    data          BLOB    NOT NULL,           -- one zstd frame
    PRIMARY KEY (input, idx)
) STRICT, WITHOUT ROWID;

-- The log: append-only, hash-chained. hash = SHA-256(previous hash ‖ canonical JSON), the first
-- event chains from 32 zero bytes. The canonical JSON is derived from the columns (written at
-- ingest to compute the hash, produced again by export, history and verify). Numbers that may
-- reach 2^64 (offset, size, gpa, pfn, hva, error offsets) are stored as their 64-bit pattern.
CREATE TABLE event (
    seq           INTEGER PRIMARY KEY,        -- 1, 2, 3 … gap-free, in commit order
    batch         INTEGER NOT NULL,
    ts            INTEGER,                    -- nanoseconds; NULL when the event had no ts
    op            INTEGER NOT NULL,           -- op(code)
    host          INTEGER NOT NULL,           -- name(id)
    actor         INTEGER,                    -- name(id); NULL = the op's default actor
    vm            INTEGER,                    -- name(id)
    gmem          INTEGER,                    -- name(id)
    offset        INTEGER,
    size          INTEGER,
    gpa           INTEGER,
    pfn           INTEGER,
    holder        INTEGER,                    -- pin, release: 0 td, 1 iommu, 2 vfio, 3 gup
    mode          INTEGER,                    -- bits: convert, convert_request: 0 `to` private, 1 implicit; vm_create: 0 tdx_connect; 3–4 kernel (1 rfc-2025, 2 upstream-2026); 5–6 via (1 gmem, 2 vm)
    count         INTEGER,                    -- per op: slot (bind, unbind), npages (reuse), folio_size (gmem_create), lost (gap)
    label         INTEGER,                    -- name(id), per op: type (vm_create), reason (vm_bugged, zap), owner (reuse), tracepoint (context), flags as a JSON array (gmem_create), source (gap)
    hva           INTEGER,
    result        INTEGER,                    -- name(id) of the observed result
    error_offset  INTEGER,
    producer_id   TEXT,                       -- the producer's `id`, unique when present
    note          TEXT,
    src_file      INTEGER,                    -- name(id) of src.file
    src_line      INTEGER,
    src_text      TEXT,                       -- src.text of bodies written before schema 1 (trace lines are now kept in `input`)
    extras        TEXT,                       -- JSON object of the fields the vocabulary does not name, as given; NULL when none
    hash          BLOB    NOT NULL,
    expected      INTEGER,                    -- name(id) of the model's outcome; NULL when unresolved
    expected_error_offset INTEGER,
    diverged      INTEGER NOT NULL,           -- 1 when the observed result differs from expected
    structural    INTEGER NOT NULL,           -- 1 when it changes more than page runs (VMs, bindings, files, a failed zap)
    input         INTEGER,                    -- input(id) it was read from (outside the hash)
    input_line    INTEGER                     -- its line there
) STRICT;
CREATE UNIQUE INDEX event_producer_id ON event(producer_id) WHERE producer_id IS NOT NULL;
-- The events that change something other than page runs, by the VM and the gmem they name: a
-- page's history replays those and the page's own events, nothing else (docs/FORENSICS.md).
CREATE INDEX event_structure_vm ON event(vm, seq) WHERE structural = 1;
CREATE INDEX event_structure_gmem ON event(gmem, seq) WHERE structural = 1;
-- The few ops that name frames or bindings, for the frame history of big frame numbers.
CREATE INDEX event_addressing_op ON event(op, seq) WHERE op IN (6, 18, 19);

CREATE TRIGGER event_is_append_only_update BEFORE UPDATE ON event
BEGIN
    SELECT RAISE(ABORT, 'gmem: the event log is append-only (UPDATE refused)');
END;
CREATE TRIGGER event_is_append_only_delete BEFORE DELETE ON event
BEGIN
    SELECT RAISE(ABORT, 'gmem: the event log is append-only (DELETE refused)');
END;
CREATE TRIGGER name_is_append_only_update BEFORE UPDATE ON name
BEGIN
    SELECT RAISE(ABORT, 'gmem: interned names are append-only (UPDATE refused)');
END;
CREATE TRIGGER input_chunk_is_append_only_update BEFORE UPDATE ON input_chunk
BEGIN
    SELECT RAISE(ABORT, 'gmem: stored inputs are append-only (UPDATE refused)');
END;

-- Undecodable lines kept by `ingest --quarantine`.
CREATE TABLE reject (
    id            INTEGER PRIMARY KEY,
    batch         INTEGER NOT NULL REFERENCES batch(id),
    source        TEXT    NOT NULL,
    line          INTEGER NOT NULL,
    text          TEXT    NOT NULL,
    reason        TEXT    NOT NULL
) STRICT;

-- The engine state after `seq`, on a grid of seq and at the head (derived: `verify` checks each
-- against a replay). Closed gmem files are stored once apart (closed_file) and left out.
CREATE TABLE snapshot (
    seq           INTEGER PRIMARY KEY,
    state         BLOB    NOT NULL
) STRICT;
CREATE TABLE closed_file (
    file          INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    state         BLOB    NOT NULL,
    PRIMARY KEY (file, seq)
) STRICT, WITHOUT ROWID;

-- Every (gmem, page range) an event resolved to, binned so that "which events touched pages
-- [a, b)" is a few B-tree range seeks: a span [page_lo, page_hi) sits at the smallest `level`
-- at which it lies within two adjacent bins of 2^level pages, in bin page_lo >> level
-- (docs/FORENSICS.md). Written sorted at the end of each batch.
CREATE TABLE page_event (
    gmem          INTEGER NOT NULL,           -- name(id)
    level         INTEGER NOT NULL,
    bin           INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    page_lo       INTEGER NOT NULL,
    page_hi       INTEGER NOT NULL,           -- exclusive
    PRIMARY KEY (gmem, level, bin, seq, page_lo)
) STRICT, WITHOUT ROWID;

-- Every range of host frames an event names (populates, with the gmem pages they back; reuses
-- and machine checks), binned like page_event. Frame numbers are stored with their top bit
-- flipped (pfn XOR 2^63 as a signed integer), so that SQLite's signed order is the frames'
-- unsigned order and every frame up to 2^64 - 1 is indexed.
CREATE TABLE frame_event (
    level         INTEGER NOT NULL,
    bin           INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    pfn_lo        INTEGER NOT NULL,
    pfn_hi        INTEGER NOT NULL,           -- exclusive
    gmem          INTEGER,                    -- name(id); NULL when the frames back no file page
    page_lo       INTEGER,                    -- the file page backed by frame pfn_lo
    PRIMARY KEY (level, bin, seq, pfn_lo)
) STRICT, WITHOUT ROWID;

-- Time: ts mostly grows. ts_grid holds, every 1024 events, the largest ts up to that seq (a
-- sparse index); ts_disorder the events whose ts is earlier than an event before them. "The last
-- event with ts <= T" is then a seek in each and a scan of at most 1024 rows.
CREATE TABLE ts_grid (
    seq           INTEGER PRIMARY KEY,
    max_ts        INTEGER NOT NULL
) STRICT;
CREATE TABLE ts_disorder (
    seq           INTEGER PRIMARY KEY,
    ts            INTEGER NOT NULL
) STRICT;

-- Roots of complete, aligned Merkle subtrees (RFC 6962) of 2^level events, level >= 10.
CREATE TABLE merkle_node (
    level         INTEGER NOT NULL,
    idx           INTEGER NOT NULL,
    hash          BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

-- Store-wide settings (the snapshot interval), kept so every ingest uses the same.
CREATE TABLE setting (
    key           TEXT    PRIMARY KEY,
    value         TEXT    NOT NULL
) STRICT;

-- The auditor's findings (derived: `verify` audits the log again and compares every row).
CREATE TABLE finding (
    id            INTEGER PRIMARY KEY,
    rule          TEXT    NOT NULL,           -- GM-R01 …
    severity      TEXT    NOT NULL,           -- the rule's own severity, before any policy file
    seq           INTEGER NOT NULL,
    ts            INTEGER,
    host          TEXT    NOT NULL,
    vm            TEXT,
    gmem          TEXT,
    offset        INTEGER,
    size          INTEGER,
    ranges        TEXT    NOT NULL,           -- JSON: [{"gmem","offset","size"} | {"vm","gpa","size"}]
    related       TEXT    NOT NULL,           -- JSON: the earlier seqs that explain it, ascending
    message       TEXT    NOT NULL,
    UNIQUE (seq, rule)
) STRICT;
CREATE INDEX finding_rule ON finding(rule, seq);

-- Where the audit stopped: the last audited event and its hash, the rule catalog, and the
-- engine state with the auditor's memory after it.
CREATE TABLE audit_head (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    seq           INTEGER NOT NULL,
    hash          BLOB    NOT NULL,
    catalog       TEXT    NOT NULL,
    state         BLOB    NOT NULL
) STRICT;

-- For an analyst with `sqlite3`: the log with every interned id and code by name.
CREATE VIEW event_view AS
SELECT e.seq, e.batch, e.ts, o.name AS op, h.text AS host, coalesce(a.text, '') AS actor,
       v.text AS vm, g.text AS gmem, e.offset, e.size, e.gpa, e.pfn,
       CASE e.holder WHEN 0 THEN 'td' WHEN 1 THEN 'iommu' WHEN 2 THEN 'vfio' WHEN 3 THEN 'gup' END AS holder,
       CASE WHEN e.op IN (12, 13) THEN CASE e.mode & 1 WHEN 0 THEN 'shared' ELSE 'private' END END AS "to",
       CASE (e.mode >> 3) & 3 WHEN 1 THEN 'rfc-2025' WHEN 2 THEN 'upstream-2026' END AS kernel,
       CASE (e.mode >> 5) & 3 WHEN 1 THEN 'gmem' WHEN 2 THEN 'vm' END AS via,
       e.mode, e.count, l.text AS label, e.hva, r.text AS result, e.error_offset, e.producer_id, e.note,
       f.text AS src_file, e.src_line, e.src_text, e.extras, hex(e.hash) AS hash, x.text AS expected,
       e.expected_error_offset, e.diverged, e.input, e.input_line
FROM event e
JOIN op o ON o.code = e.op
JOIN name h ON h.id = e.host
LEFT JOIN name a ON a.id = e.actor
LEFT JOIN name v ON v.id = e.vm
LEFT JOIN name g ON g.id = e.gmem
LEFT JOIN name l ON l.id = e.label
LEFT JOIN name r ON r.id = e.result
LEFT JOIN name f ON f.id = e.src_file
LEFT JOIN name x ON x.id = e.expected;

CREATE VIEW page_event_view AS
SELECT g.text AS gmem, p.seq, p.page_lo * 4096 AS offset, (p.page_hi - p.page_lo) * 4096 AS size
FROM page_event p JOIN name g ON g.id = p.gmem;
