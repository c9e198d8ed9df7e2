-- gmem store, schema version 2: the auditor's findings, and where the audit of the log stopped.
-- Never edit this file once landed: add a new numbered file instead.

-- One finding per triggering event and rule (POLICIES.md). Derived data, like the snapshots:
-- the event table stays the evidence. Findings are stored with the rule's own severity for that
-- event; a policy file changes severities and suppresses findings when they are printed, so it
-- never invalidates what is stored. Ids are assigned in (seq, rule) order as the audit advances,
-- so auditing the same log again yields the same ids.
CREATE TABLE finding (
    id            INTEGER PRIMARY KEY,
    rule          TEXT    NOT NULL,           -- GM-R01 … GM-R14
    severity      TEXT    NOT NULL,           -- Falco level, before any policy file
    seq           INTEGER NOT NULL REFERENCES event(seq),
    ts            INTEGER,                    -- the event's ts, nanoseconds
    host          TEXT    NOT NULL,
    vm            TEXT,
    gmem          TEXT,                       -- of the first range, when it is a file range
    offset        INTEGER,
    size          INTEGER,
    ranges        TEXT    NOT NULL,           -- JSON: [{"gmem","offset","size"} | {"vm","gpa","size"}]
    related       TEXT    NOT NULL,           -- JSON: the earlier seqs that explain it, ascending
    message       TEXT    NOT NULL,
    UNIQUE (seq, rule)
) STRICT;
CREATE INDEX finding_rule ON finding(rule, seq);

-- Where the audit stopped: the last audited event (its hash, to notice a log that is not the
-- one audited), the rule catalog that made the findings, and the engine state with the
-- auditor's memory after that event, so that the next audit continues from there.
CREATE TABLE audit_head (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    seq           INTEGER NOT NULL,
    hash          BLOB    NOT NULL,
    catalog       TEXT    NOT NULL,
    state         BLOB    NOT NULL
) STRICT;
