import CSQLite

/// One SQLite connection. Owns its handle and closes it on deinit. Not thread-safe: one
/// connection per thread, as SQLite's own "multi-thread" mode requires.
public final class Database {
    /// How a store file is opened.
    public enum Access: Sendable {
        /// Create when missing, read and write.
        case readWrite
        /// Read only (`mode=ro`): nothing is ever written, not even the WAL index, when
        /// `immutable` is set (for evidence on read-only media).
        case readOnly(immutable: Bool)
    }

    let handle: OpaquePointer
    public let path: String
    private var statements: [String: Statement] = [:]

    /// Opens `file` (by default `path`); `path` is the name errors give the store, which
    /// differs from `file` when a private copy of it is read.
    public init(path: String, access: Access, file: String? = nil) throws(SQLiteError) {
        self.path = path
        var handle: OpaquePointer?
        var flags = SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX
        var uri = "file:" + Self.escape(file ?? path)
        switch access {
        case .readWrite:
            flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .readOnly(let immutable):
            flags |= SQLITE_OPEN_READONLY
            uri += immutable ? "?mode=ro&immutable=1" : "?mode=ro"
        }
        let rc = sqlite3_open_v2(uri, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let handle { sqlite3_close_v2(handle) }
            throw SQLiteError(extendedCode: rc, message: message, sql: nil)
        }
        self.handle = handle
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Percent-escapes the characters that have a meaning in an SQLite URI.
    private static func escape(_ path: String) -> String {
        var out = ""
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "%"), UInt8(ascii: "?"), UInt8(ascii: "#"):
                out += "%" + String(byte, radix: 16, uppercase: true)
            default:
                out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out
    }

    func error(_ code: Int32, sql: String?) -> SQLiteError {
        SQLiteError(extendedCode: code, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw SQLiteError(extendedCode: rc, message: text, sql: sql)
        }
    }

    /// A prepared statement for `sql`, prepared once per connection and reused.
    public func cached(_ sql: String) throws(SQLiteError) -> Statement {
        if let statement = statements[sql] {
            statement.reset()
            return statement
        }
        let statement = try Statement(database: self, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// A fresh prepared statement, for one-off queries.
    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        try Statement(database: self, sql: sql)
    }

    /// The value of the first column of the first row; nil when there is no row or the value is
    /// NULL (an aggregate over no rows: `max(ts)` of an empty log is not 0).
    public func scalarInt(_ sql: String) throws(SQLiteError) -> Int64? {
        let statement = try cached(sql)
        defer { statement.reset() }
        return try statement.step() ? statement.optionalInt(0) : nil
    }

    /// Runs `body` in a transaction: `BEGIN IMMEDIATE` (take the write lock now, so that two
    /// writers serialize instead of failing at commit), committed when `body` returns,
    /// rolled back when it throws.
    public func writeTransaction<T, E: Error>(_ body: () throws(E) -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` in a read transaction, so that every query in it sees one snapshot.
    public func readTransaction<T, E: Error>(_ body: () throws(E) -> T) throws -> T {
        try execute("BEGIN")
        defer { try? execute("COMMIT") }
        return try body()
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var changes: Int32 { sqlite3_changes(handle) }
}
