import CSQLite
import GmemStore

/// The physical limit: the same rows written and read through the SQLite C API directly, one
/// prepared statement each, values bound from memory with SQLITE_STATIC, no gmem code between.
final class RawConnection {
    let handle: OpaquePointer
    let path: String

    init(path: String) throws {
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            throw BenchError("\(path): sqlite3_open_v2 failed: \(String(cString: sqlite3_errstr(rc)))")
        }
        self.handle = handle
        self.path = path
    }

    deinit { sqlite3_close_v2(handle) }

    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw BenchError("\(path): \(sql): \(String(cString: sqlite3_errmsg(handle)))") }
    }

    func prepare(_ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw BenchError("\(path): \(sql): \(String(cString: sqlite3_errmsg(handle)))")
        }
        return statement
    }

    func done(_ statement: OpaquePointer, _ what: String) throws {
        let rc = sqlite3_step(statement)
        guard rc == SQLITE_DONE else { throw BenchError("\(path): \(what): \(String(cString: sqlite3_errmsg(handle)))") }
        sqlite3_reset(statement)
    }
}

/// The raw C baselines.
enum RawSQLite {
    static let eventColumns = "seq, batch, ts, op, host, producer_id, body, hash, expected, expected_error_offset, diverged"

    /// Inserts every event row of `rows` (and, with `touches`, every event_touch row) in one
    /// transaction into the `event` table of `path`, which must exist. Returns the rows written.
    static func insert(_ rows: EventRows, into path: String, touches: Bool) throws -> Int {
        let connection = try RawConnection(path: path)
        try connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL")
        try connection.execute("BEGIN IMMEDIATE")
        try connection.execute("INSERT INTO batch(id, source, format, started_at) VALUES (1, '<raw>', 'api', '')")
        let insert = try connection.prepare("INSERT INTO event(\(eventColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
        let touch = touches ? try connection.prepare("INSERT INTO event_touch(seq, gmem, page_lo, page_hi) VALUES (?,?,?,?)") : nil
        defer {
            sqlite3_finalize(insert)
            sqlite3_finalize(touch)
        }
        var touchIndex = 0
        try rows.bodies.withUnsafeBufferPointer { bodies in
            try rows.hashes.withUnsafeBufferPointer { hashes in
                for row in 0..<rows.count {
                    let seq = Int64(row + 1)
                    sqlite3_bind_int64(insert, 1, seq)
                    sqlite3_bind_int64(insert, 2, 1)
                    if let ts = rows.ts[row] { sqlite3_bind_int64(insert, 3, ts) } else { sqlite3_bind_null(insert, 3) }
                    bindText(insert, 4, rows, rows.op[row])
                    bindText(insert, 5, rows, rows.host[row])
                    bindText(insert, 6, rows, rows.producerID[row])
                    let body = rows.bodyRange(row)
                    sqlite3_bind_text(insert, 7, UnsafeRawPointer(bodies.baseAddress! + body.lowerBound).assumingMemoryBound(to: CChar.self), Int32(body.count), nil)
                    sqlite3_bind_blob(insert, 8, hashes.baseAddress! + row * 32, 32, nil)
                    bindText(insert, 9, rows, rows.expected[row])
                    if let offset = rows.expectedErrorOffset[row] { sqlite3_bind_int64(insert, 10, offset) } else { sqlite3_bind_null(insert, 10) }
                    sqlite3_bind_int64(insert, 11, rows.diverged[row] ? 1 : 0)
                    try connection.done(insert, "insert event \(seq)")
                    guard let touch else { continue }
                    while touchIndex < rows.touches.count, rows.touches[touchIndex].seq == seq {
                        let row = rows.touches[touchIndex]
                        sqlite3_bind_int64(touch, 1, row.seq)
                        bindText(touch, 2, rows, row.gmem)
                        sqlite3_bind_int64(touch, 3, row.lower)
                        sqlite3_bind_int64(touch, 4, row.upper)
                        try connection.done(touch, "insert event_touch of \(seq)")
                        touchIndex += 1
                    }
                }
            }
        }
        try connection.execute("COMMIT")
        return rows.count + (touches ? rows.touches.count : 0)
    }

    private static func bindText(_ statement: OpaquePointer, _ index: Int32, _ rows: EventRows, _ text: Int32) {
        guard text >= 0 else {
            sqlite3_bind_null(statement, index)
            return
        }
        rows.texts[Int(text)].withUnsafeBufferPointer {
            // The interned texts live as long as `rows`, so SQLite may keep the pointer.
            _ = sqlite3_bind_text(statement, index, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), Int32($0.count), nil)
        }
    }

    /// Creates `path` with an `event` table of gmem's columns and no secondary index.
    static func createBareTable(at path: String) throws {
        let connection = try RawConnection(path: path)
        try connection.execute("""
            CREATE TABLE batch (id INTEGER PRIMARY KEY, source TEXT NOT NULL, format TEXT NOT NULL, started_at TEXT NOT NULL) STRICT;
            CREATE TABLE event (
                seq INTEGER PRIMARY KEY, batch INTEGER NOT NULL, ts INTEGER, op TEXT NOT NULL, host TEXT NOT NULL,
                producer_id TEXT, body TEXT NOT NULL, hash BLOB NOT NULL, expected TEXT, expected_error_offset INTEGER,
                diverged INTEGER NOT NULL) STRICT;
            """)
    }

    /// Reads every event's seq and body from the store at `path` in seq order, the columns a
    /// replay reads (`Store.replay`), touching each value. Returns the rows read.
    static func scan(_ path: String) throws -> (rows: Int, checksum: UInt64) {
        let connection = try RawConnection(path: path)
        let select = try connection.prepare("SELECT seq, body FROM event ORDER BY seq")
        defer { sqlite3_finalize(select) }
        var rows = 0
        var checksum: UInt64 = 0
        while true {
            let rc = sqlite3_step(select)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw BenchError("\(path): scan: \(String(cString: sqlite3_errmsg(connection.handle)))") }
            rows += 1
            checksum &+= UInt64(bitPattern: sqlite3_column_int64(select, 0))
            if let body = sqlite3_column_text(select, 1) {
                checksum &+= UInt64(sqlite3_column_bytes(select, 1)) &+ UInt64(body[0])
            }
        }
        return (rows, checksum)
    }
}
