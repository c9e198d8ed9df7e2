/// Event rows inserted `rows` to a statement (`Store.BatchWriter.defersEventRows`, set by
/// `MergeIngest`): the rows are bound into one multi-row `INSERT … SELECT … FROM (VALUES …)` as
/// they are appended and inserted when it is full, when the batch ends, and before a
/// retraction reads the log.
///
/// Why: a statement's run has a fixed cost (its start, its end, the cursors it opens and
/// closes) that one row per run pays per event. Before schema 4 it included a temporary b-tree
/// that the partial index `event_addressing_op` made SQLite build per run (about an eighth of
/// the batch thread on a kernel trace); with that index dropped, 64 rows to a run still made
/// JSON Lines ingest 5–12 % faster than one (docs/PERFORMANCE.md, Round 6).
///
/// What is stored does not change: the same values bound in the same order, rows inserted in
/// seq order (`IngestPipelineTests`, `TraceIngestFastPathTests`). Only when a row is inserted
/// changes, inside the batch's transaction: nothing reads the event table between two appends
/// of a merge ingest but a retraction (`flush` first) and the batch's end (`Store.ingest`).
final class EventRowBuffer {
    /// Rows per statement.
    static let rows = 64
    /// Parameters per row: seq, batch, the event's columns, then hash … returned_early.
    static let parametersPerRow: Int32 = 2 + EventRow.columnCount + 8

    /// The statement: `rows` rows of parameters; a row whose seq is NULL is not inserted.
    static let sql: String = {
        let row = "(" + Array(repeating: "?", count: Int(parametersPerRow)).joined(separator: ", ") + ")"
        return "INSERT INTO event(seq, batch, \(EventRow.columns), hash, expected, expected_error_offset, diverged, structural, input, input_line, returned_early) "
            + "SELECT * FROM (VALUES " + Array(repeating: row, count: rows).joined(separator: ", ") + ") WHERE column1 IS NOT NULL"
    }()

    let statement: Statement
    /// Rows bound and not yet inserted.
    private(set) var pending = 0

    init(database: Database) throws(SQLiteError) {
        statement = try database.cached(Self.sql)
    }

    /// The first parameter of the next row to bind.
    var nextRow: Int32 { Int32(pending) * Self.parametersPerRow + 1 }

    /// Counts the row just bound at `nextRow`; inserts the rows once `rows` are bound.
    func bound() throws(SQLiteError) {
        pending += 1
        if pending == Self.rows { try flush() }
    }

    /// Inserts the rows bound so far.
    func flush() throws(SQLiteError) {
        guard pending > 0 else { return }
        // The rows after them still hold an earlier run's values: a NULL seq leaves them out.
        for row in pending..<Self.rows { try statement.bind(Int32(row) * Self.parametersPerRow + 1, nil as Int64?) }
        pending = 0
        do {
            try statement.run()
        } catch {
            // Said as the one-row insert says it, not with 64 rows of parameters.
            var error = error
            error.sql = Store.insertEvent
            statement.reset()
            throw error
        }
    }
}
