-- gmem store, forensics: an overlap index for page history, the events whose ts runs backwards,
-- the events that change anything but page runs, Merkle subtree roots, and store settings.
-- Derived data only: the event table is not touched. Never edit this file once landed.

-- Every (gmem, page range) an event resolved to, binned so that "which events touched pages
-- [a, b)" is a few B-tree range seeks instead of a scan. A span [page_lo, page_hi) goes to the
-- smallest `level` at which it lies within two adjacent bins of 2^level pages, in bin
-- page_lo >> level. A span that overlaps [a, b) then sits, at its level, in a bin from
-- (a >> level) - 1 to (b - 1) >> level. See docs/FORENSICS.md.
CREATE TABLE page_span (
    gmem          TEXT    NOT NULL,
    level         INTEGER NOT NULL,
    bin           INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    page_lo       INTEGER NOT NULL,
    page_hi       INTEGER NOT NULL,           -- exclusive
    PRIMARY KEY (gmem, level, bin, seq, page_lo)
) STRICT, WITHOUT ROWID;

WITH RECURSIVE levels(level) AS (SELECT 0 UNION ALL SELECT level + 1 FROM levels WHERE level < 52)
INSERT INTO page_span(gmem, level, bin, seq, page_lo, page_hi)
SELECT gmem, lvl, page_lo >> lvl, seq, page_lo, page_hi FROM (
    SELECT t.gmem, t.seq, t.page_lo, t.page_hi,
        (SELECT min(level) FROM levels WHERE ((t.page_hi - 1) >> level) - (t.page_lo >> level) <= 1) AS lvl
    FROM event_touch t WHERE t.page_hi > t.page_lo
);

-- Events whose ts is earlier than the ts of some event before them (merged or clock-stepped
-- input). With these, "the last event with ts <= T" is two index lookups, not a scan.
CREATE TABLE ts_disorder (
    seq           INTEGER PRIMARY KEY,
    ts            INTEGER NOT NULL
) STRICT;

INSERT INTO ts_disorder(seq, ts)
SELECT seq, ts FROM (
    SELECT seq, ts, max(ts) OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
    FROM event WHERE ts IS NOT NULL
) WHERE ts < before;

-- The events that change something other than page runs: VMs, bindings, the set of gmem files,
-- and (through a failed zap: an EIO observed or expected, a divergence, or an unresolved range)
-- a VM's life, indexed by the VM and the gmem they name. A page's history replays those of its
-- VM and gmem files and the page's own events, nothing else (docs/FORENSICS.md).
CREATE INDEX event_structure_vm ON event(json_extract(body, '$.vm'), seq)
WHERE op IN ('vm_create', 'vm_destroy', 'vm_bugged', 'gmem_create', 'gmem_close', 'bind', 'unbind')
   OR (op IN ('zap', 'punch_hole', 'convert') AND (expected IS NULL OR expected = 'EIO' OR diverged = 1));
CREATE INDEX event_structure_gmem ON event(json_extract(body, '$.gmem'), seq)
WHERE op IN ('vm_create', 'vm_destroy', 'vm_bugged', 'gmem_create', 'gmem_close', 'bind', 'unbind')
   OR (op IN ('zap', 'punch_hole', 'convert') AND (expected IS NULL OR expected = 'EIO' OR diverged = 1));

-- Roots of complete, aligned Merkle subtrees (RFC 6962) of 2^level events, level >= 10: node
-- (level, idx) covers seqs idx * 2^level + 1 … (idx + 1) * 2^level. A leaf is
-- SHA-256(0x00 || canonical body). Smaller subtrees are recomputed from the bodies on demand.
CREATE TABLE merkle_node (
    level         INTEGER NOT NULL,
    idx           INTEGER NOT NULL,
    hash          BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

-- Closed gmem files, by reference from snapshots: a closed file's pages no longer change, so a
-- snapshot stores them once here (`file` = its index in the state's file list, `seq` = the
-- snapshot that first needed this version) and leaves them out of its own blob. A snapshot at
-- seq S reads, for each closed file, the newest row with seq <= S.
CREATE TABLE closed_file (
    file          INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    state         BLOB    NOT NULL,
    PRIMARY KEY (file, seq)
) STRICT, WITHOUT ROWID;

-- Store-wide settings (e.g. the snapshot interval), kept so every ingest uses the same.
CREATE TABLE setting (
    key           TEXT    PRIMARY KEY,
    value         TEXT    NOT NULL
) STRICT;
