-- gmem store, page history without re-reading the log: the page overlap index carries, in each
-- row, the event's compact binary form with its recorded outcome (`EventForm`), so a page's
-- history reads its events from a few adjacent index pages instead of one random lookup and one
-- JSON parse per event. Derived data only: the event table is not touched. Never edit this file
-- once landed.

-- page_span (0003) with the form. Binning as before: a span [page_lo, page_hi) sits at the
-- smallest `level` at which it lies within two adjacent bins of 2^level pages, in bin
-- page_lo >> level (docs/FORENSICS.md). `form` is NULL for rows carried over from page_span:
-- a history reads those events' bodies.
CREATE TABLE page_event (
    gmem          TEXT    NOT NULL,
    level         INTEGER NOT NULL,
    bin           INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    page_lo       INTEGER NOT NULL,
    page_hi       INTEGER NOT NULL,           -- exclusive
    form          BLOB,
    PRIMARY KEY (gmem, level, bin, seq, page_lo)
) STRICT, WITHOUT ROWID;

INSERT INTO page_event(gmem, level, bin, seq, page_lo, page_hi, form)
SELECT gmem, level, bin, seq, page_lo, page_hi, NULL FROM page_span ORDER BY gmem, level, bin, seq, page_lo;

DROP TABLE page_span;

-- Every range of host frames an event names, binned like page_event over frame numbers:
-- populates with a pfn (one row per resolved piece, with the gmem pages those frames back;
-- gmem NULL when the range resolved to no file), reuses and machine checks (gmem NULL). With it
-- `history --pfn` is a few B-tree seeks, not a scan of every populate. Frames at or above
-- 2^63 (no machine has them) are not indexed.
CREATE TABLE frame_event (
    level         INTEGER NOT NULL,
    bin           INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    pfn_lo        INTEGER NOT NULL,
    pfn_hi        INTEGER NOT NULL,           -- exclusive
    gmem          TEXT,
    page_lo       INTEGER,                    -- the file page backed by frame pfn_lo
    PRIMARY KEY (level, bin, seq, pfn_lo)
) STRICT, WITHOUT ROWID;

-- Events stored before this migration are not in frame_event: a frame's history scans them
-- (the seqs below this one) as before.
INSERT INTO setting(key, value) SELECT 'frame_index_since', CAST(max(seq) + 1 AS TEXT) FROM event HAVING count(*) > 0;
