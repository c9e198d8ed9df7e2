import CSQLite
import GmemStore

/// The floor for any writer of gmem's schema: the event rows of a gmem store, read into memory,
/// inserted by the SQLite C API alone into a new file that has the event table's own definition
/// and indexes (read from the store) and gmem's pragmas, one row per event in one transaction,
/// every value bound as SQLite holds it. An ingest writes these rows and more (the page and
/// frame indexes, Merkle nodes, the input's chunks, snapshots) and must first parse, judge and
/// hash each event, so no ingest of this schema can be faster than this insert.
struct EventRowsInsert {
    /// `CREATE TABLE event …` and its `CREATE INDEX` statements, as the store has them.
    private var definitions: [String] = []
    private var columns: Int32 = 0
    /// One tag per value (0 NULL, 1 integer, 2 text, 3 blob), row after row; an integer's value
    /// or the offset of its bytes in `bytes` (their length in `lengths`).
    private var tags: [UInt8] = []
    private var integers: [Int64] = []
    private var lengths: [Int32] = []
    private var bytes: [UInt8] = []

    var rows: Int { columns == 0 ? 0 : tags.count / Int(columns) }

    /// Reads the event table's definition and every row of the gmem store at `store`.
    init(readingStore store: String) throws {
        let source = try RawConnection(path: store)
        try source.forEachRow("SELECT sql FROM sqlite_master WHERE tbl_name = 'event' AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC, name") { select in
            definitions.append(String(cString: sqlite3_column_text(select, 0)))
        }
        try source.forEachRow("SELECT * FROM event ORDER BY seq") { select in
            columns = sqlite3_column_count(select)
            for column in 0..<columns {
                let type = sqlite3_column_type(select, column)
                switch type {
                case SQLITE_INTEGER:
                    tags.append(1)
                    integers.append(sqlite3_column_int64(select, column))
                    lengths.append(0)
                case SQLITE_TEXT, SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(select, column))
                    tags.append(type == SQLITE_TEXT ? 2 : 3)
                    integers.append(Int64(bytes.count))
                    lengths.append(Int32(count))
                    if count > 0, let value = sqlite3_column_blob(select, column) {
                        bytes.append(contentsOf: UnsafeRawBufferPointer(start: value, count: count))
                    }
                default:
                    tags.append(0)
                    integers.append(0)
                    lengths.append(0)
                }
            }
        }
        guard definitions.first?.hasPrefix("CREATE TABLE") == true else { throw BenchError("\(store): no event table") }
    }

    /// Creates the file at `path` with gmem's pragmas and the event table with its indexes, empty.
    func create(_ path: String, pragmas: GmemPragmas) throws {
        removeStore(path)
        let connection = try RawConnection(path: path)
        try pragmas.apply(to: connection)
        for definition in definitions { try connection.execute(definition) }
    }

    /// Inserts every row into the file `create` made at `path`, in one transaction; returns the
    /// rows written.
    func insert(into path: String, pragmas: GmemPragmas) throws -> Int {
        let connection = try RawConnection(path: path)
        try pragmas.apply(to: connection)
        let placeholders = Array(repeating: "?", count: Int(columns)).joined(separator: ",")
        let insert = try connection.prepare("INSERT INTO event VALUES (\(placeholders))")
        defer { sqlite3_finalize(insert) }
        try connection.execute("BEGIN IMMEDIATE")
        try bytes.withUnsafeBytes { buffer in
            let base = buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
            var value = 0
            for row in 0..<rows {
                for column in 1...columns {
                    let start = base + Int(integers[value])
                    // `bytes` outlives the statement's use of the value, so SQLite may keep the pointer.
                    switch tags[value] {
                    case 1: sqlite3_bind_int64(insert, column, integers[value])
                    case 2: sqlite3_bind_text(insert, column, start.assumingMemoryBound(to: CChar.self), lengths[value], nil)
                    case 3: sqlite3_bind_blob(insert, column, start, lengths[value], nil)
                    default: sqlite3_bind_null(insert, column)
                    }
                    value += 1
                }
                try connection.done(insert, "insert event row \(row + 1)")
            }
        }
        try connection.execute("COMMIT")
        return rows
    }
}

extension RawConnection {
    /// Steps `sql` to its end, calling `row` for each row.
    func forEachRow(_ sql: String, _ row: (OpaquePointer) throws -> Void) throws {
        let select = try prepare(sql)
        defer { sqlite3_finalize(select) }
        while true {
            let rc = sqlite3_step(select)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw BenchError("\(path): \(sql): \(String(cString: sqlite3_errmsg(handle)))") }
            try row(select)
        }
    }
}
