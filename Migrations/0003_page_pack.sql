-- gmem store, schema 3: the page index packed per bin, and each conversion's "returned early"
-- verdict (docs/STORE.md, docs/FORENSICS.md).
--
-- page_pack replaces page_event: the spans a batch filed in one (gmem, level, pack) are one
-- row, their (seq, page_lo, page_hi) packed in `spans` (`PagePack`: varints, seqs as deltas,
-- pages relative to the pack), instead of one row per span. A span [lo, hi) of level L is in
-- pack lo >> max(L + 6, 14): a pack holds at least 64 adjacent bins of 2^L pages and at least
-- 16384 pages. Derived data: the writing open
-- that applies this migration moves every page_event row into packs and drops page_event and
-- page_event_view in the same transaction (`Migrator`, `PagePack.packSchemaTwoRows`).
CREATE TABLE page_pack (
    gmem          INTEGER NOT NULL,           -- name(id)
    level         INTEGER NOT NULL,
    pack          INTEGER NOT NULL,           -- page_lo >> max(level + 6, 14)
    first_seq     INTEGER NOT NULL,           -- the seq of its first span
    last_seq      INTEGER NOT NULL,           -- the seq of its last span
    spans         BLOB    NOT NULL,
    PRIMARY KEY (gmem, level, pack, first_seq)
) STRICT, WITHOUT ROWID;

-- For a `convert`: 1 when it returned early and changed nothing (upstream-2026: it went through
-- and its whole range already had the requested shareability), 0 when it did not; written from
-- the engine's verdict like `expected`, `diverged` and `structural`. NULL for every other op, and
-- for conversions appended before this migration (setting `returned_early_from` is the first seq
-- that has it): a page's history decides those by widening to the conversion's range.
ALTER TABLE event ADD COLUMN returned_early INTEGER;

-- For an analyst with `sqlite3`: the packs with gmem names and sizes; the spans in them are
-- listed by `gmem-audit history` (docs/STORE.md, "Reading it with sqlite3").
CREATE VIEW page_pack_view AS
SELECT g.text AS gmem, p.level, p.pack, p.first_seq, p.last_seq, length(p.spans) AS bytes
FROM page_pack p JOIN name g ON g.id = p.gmem;
