import CSQLite
import GmemStore
#if canImport(Glibc)
import Glibc
#endif

/// One connection of the raw baselines: the SQLite C API directly, no gmem code between.
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

    /// Steps a statement that returns no row, then resets it.
    func done(_ statement: OpaquePointer, _ what: @autoclosure () -> String) throws {
        let rc = sqlite3_step(statement)
        guard rc == SQLITE_DONE else { throw BenchError("\(path): \(what()): \(String(cString: sqlite3_errmsg(handle)))") }
        sqlite3_reset(statement)
    }
}

/// The SQLite settings a gmem store writes with, read from a gmem store's own connection while
/// it is inside a batch, so that the raw baselines follow whatever gmem sets.
struct GmemPragmas {
    /// Names and values, in the order they are applied (`page_size` first: it must precede the
    /// first write of a new file, and `journal_mode`).
    var values: [(name: String, value: String)]

    static let names = ["page_size", "journal_mode", "synchronous", "cache_size", "journal_size_limit", "mmap_size", "temp_store", "wal_autocheckpoint", "cache_spill"]

    /// Reads the settings from a scratch gmem store at `path` (removed afterwards).
    static func read(scratch path: String) throws -> GmemPragmas {
        defer { removeStore(path) }
        let store = try Store(path: path, access: .readWrite)
        var values: [(String, String)] = []
        _ = try store.ingest(source: "<gmem-bench pragmas>", format: "api") { _ in
            for name in names {
                let statement = try store.database.prepare("PRAGMA \(name)")
                guard try statement.step() else { continue }
                values.append((name, statement.string(0)))
            }
            return nil
        }
        return GmemPragmas(values: values)
    }

    /// The settings as one line, for the header of the results.
    var summary: String { values.map { "\($0.name)=\($0.value)" }.joined(separator: " ") }

    /// Applies the settings to `connection`, which must be a new, empty file.
    func apply(to connection: RawConnection) throws {
        for (name, value) in values { try connection.execute("PRAGMA \(name) = \(value)") }
    }
}

/// The raw baselines: what the input costs, fixed by the input alone. Every row is one input
/// line in `raw(seq INTEGER PRIMARY KEY, ts INTEGER, line TEXT)`, the line bound straight from
/// the mapped file with `SQLITE_STATIC`, with gmem's pragmas.
enum RawSQLite {
    /// How a baseline reads the `ts` of a line.
    enum TimeFormat {
        case json, trace
        func parse(_ line: UnsafeRawBufferPointer) -> Int64? {
            switch self {
            case .json: LineTime.json(line)
            case .trace: LineTime.trace(line)
            }
        }
    }

    /// Creates the file at `path` with gmem's pragmas and the empty `raw` table.
    static func create(_ path: String, pragmas: GmemPragmas) throws {
        removeStore(path)
        let connection = try RawConnection(path: path)
        try pragmas.apply(to: connection)
        try connection.execute("CREATE TABLE raw(seq INTEGER PRIMARY KEY, ts INTEGER, line TEXT)")
    }

    /// B1 and B4: inserts every line of `inputs`, in order, one row each, in one transaction.
    /// Reads the files (mapped), finds the lines and their `ts`, inserts, commits. Returns the
    /// rows and the input bytes.
    static func insertLines(of inputs: [(path: String, time: TimeFormat)], into path: String, pragmas: GmemPragmas) throws -> (rows: Int, bytes: Int) {
        let connection = try RawConnection(path: path)
        try pragmas.apply(to: connection)
        let insert = try connection.prepare("INSERT INTO raw(seq, ts, line) VALUES (?,?,?)")
        defer { sqlite3_finalize(insert) }
        try connection.execute("BEGIN IMMEDIATE")
        var seq: Int64 = 0
        var bytes = 0
        for input in inputs {
            let file = try MappedFile(path: input.path)
            bytes += file.bytes.count
            try file.forEachLine { line in
                seq += 1
                try bind(insert, seq: seq, line: line, time: input.time)
                try connection.done(insert, "insert line \(seq)")
            }
        }
        try connection.execute("COMMIT")
        return (Int(seq), bytes)
    }

    /// B3: inserts every line of `input` after the rows already in `path`, each in its own
    /// transaction (`BEGIN IMMEDIATE` … `COMMIT`), with `synchronous=FULL` whatever gmem's batch
    /// setting: a row is durable when its insert returns. Returns the rows written.
    static func insertDurably(linesOf input: String, into path: String, pragmas: GmemPragmas) throws -> Int {
        let connection = try RawConnection(path: path)
        try pragmas.apply(to: connection)
        try connection.execute("PRAGMA synchronous = FULL")
        let begin = try connection.prepare("BEGIN IMMEDIATE")
        let insert = try connection.prepare("INSERT INTO raw(seq, ts, line) VALUES (?,?,?)")
        let commit = try connection.prepare("COMMIT")
        let last = try connection.prepare("SELECT coalesce(max(seq), 0) FROM raw")
        defer {
            sqlite3_finalize(begin)
            sqlite3_finalize(insert)
            sqlite3_finalize(commit)
            sqlite3_finalize(last)
        }
        guard sqlite3_step(last) == SQLITE_ROW else { throw BenchError("\(path): max(seq): \(String(cString: sqlite3_errmsg(connection.handle)))") }
        var seq = sqlite3_column_int64(last, 0)
        sqlite3_reset(last)
        let file = try MappedFile(path: input)
        var rows = 0
        try file.forEachLine { line in
            seq += 1
            rows += 1
            try connection.done(begin, "begin \(seq)")
            try bind(insert, seq: seq, line: line, time: .json)
            try connection.done(insert, "insert line \(seq)")
            try connection.done(commit, "commit \(seq)")
        }
        return rows
    }

    private static func bind(_ insert: OpaquePointer, seq: Int64, line: UnsafeRawBufferPointer, time: TimeFormat) throws {
        sqlite3_bind_int64(insert, 1, seq)
        if let ts = time.parse(line) { sqlite3_bind_int64(insert, 2, ts) } else { sqlite3_bind_null(insert, 2) }
        // The mapping outlives the statement's use of the value, so SQLite may keep the pointer.
        if let text = line.baseAddress?.assumingMemoryBound(to: CChar.self) {
            sqlite3_bind_text(insert, 3, text, Int32(line.count), nil)
        } else {
            sqlite3_bind_text(insert, 3, "", 0, nil)
        }
    }

    /// B2: `SELECT seq, ts, line FROM raw`, reading every column of every row (the line's
    /// bytes through `sqlite3_column_text`, as a reader that wants them would). Returns the
    /// rows read and a checksum, so that nothing is optimised away.
    static func scan(_ path: String) throws -> (rows: Int, checksum: UInt64) {
        try scan(path, "SELECT seq, ts, line FROM raw") { select in
            var checksum = UInt64(bitPattern: sqlite3_column_int64(select, 0)) &+ UInt64(bitPattern: sqlite3_column_int64(select, 1))
            if let line = sqlite3_column_text(select, 2) {
                let count = Int(sqlite3_column_bytes(select, 2))
                checksum &+= UInt64(count) &+ (count > 0 ? UInt64(line[count - 1]) : 0)
            }
            return checksum
        }
    }

    /// The floor for any reader of gmem's schema: the C API stepping `SELECT seq, <the event
    /// columns> FROM event` on a gmem store and reading every column of every row (its type, then
    /// its integer, or its bytes for text and blobs). gmem's read-back does this and builds an
    /// `Event`; the difference between the two is what gmem's own code costs.
    static func scanEventColumns(_ path: String) throws -> (rows: Int, checksum: UInt64) {
        try scan(path, "SELECT seq, \(EventRow.columns) FROM event") { select in
            var checksum: UInt64 = 0
            for column in 0..<sqlite3_column_count(select) {
                switch sqlite3_column_type(select, column) {
                case SQLITE_INTEGER: checksum &+= UInt64(bitPattern: sqlite3_column_int64(select, column))
                case SQLITE_TEXT, SQLITE_BLOB: checksum &+= UInt64(sqlite3_column_bytes(select, column))
                default: break
                }
            }
            return checksum
        }
    }

    /// Steps `sql` over the file at `path` to its end, `read` taking each row's columns into a
    /// checksum; returns the rows and the sum of the checksums.
    private static func scan(_ path: String, _ sql: String, read: (OpaquePointer) -> UInt64) throws -> (rows: Int, checksum: UInt64) {
        let connection = try RawConnection(path: path)
        let select = try connection.prepare(sql)
        defer { sqlite3_finalize(select) }
        var rows = 0
        var checksum: UInt64 = 0
        while true {
            let rc = sqlite3_step(select)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw BenchError("\(path): scan: \(String(cString: sqlite3_errmsg(connection.handle)))") }
            rows += 1
            checksum &+= read(select)
        }
        return (rows, checksum)
    }

    /// The bytes a SQLite file takes on disk with everything written to it: checkpointed
    /// (`wal_checkpoint(TRUNCATE)`), then the sizes of every file of the store's directory
    /// whose name starts with the store's (the main file, a `-wal` left behind, any file gmem
    /// keeps beside it), except the `-shm` index that SQLite rebuilds on open.
    static func bytesOnDisk(_ path: String) throws -> Int {
        do {
            let connection = try RawConnection(path: path)
            try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard let stream = opendir(directory) else { throw BenchError("\(directory): cannot list: \(String(cString: strerror(errno)))") }
        defer { closedir(stream) }
        var total = 0
        while let entry = readdir(stream) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard file.hasPrefix(name), !file.hasSuffix("-shm") else { continue }
            var status = stat()
            guard stat(directory + "/" + file, &status) == 0 else { continue }
            total += Int(status.st_size)
        }
        return total
    }
}

/// Removes a SQLite file and its `-wal` and `-shm`.
func removeStore(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
}
