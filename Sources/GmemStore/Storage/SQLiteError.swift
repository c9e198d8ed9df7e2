import CSQLite

/// An error from SQLite: its result code, its message, and the SQL that failed.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// A SQLite primary result code, matchable by name (`catch let e where e.code == .busy`).
    public struct Code: Equatable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(_ rawValue: Int32) { self.rawValue = rawValue }

        /// SQLITE_BUSY: another connection holds the write lock.
        public static let busy = Code(SQLITE_BUSY)
        /// SQLITE_CONSTRAINT: a constraint or a trigger refused the change.
        public static let constraint = Code(SQLITE_CONSTRAINT)
        /// SQLITE_CORRUPT: the file is damaged.
        public static let corrupt = Code(SQLITE_CORRUPT)
        /// SQLITE_NOTADB: the file is not an SQLite database.
        public static let notADatabase = Code(SQLITE_NOTADB)
        /// SQLITE_CANTOPEN: the file could not be opened.
        public static let cantOpen = Code(SQLITE_CANTOPEN)
        /// SQLITE_READONLY: a write on a read-only connection.
        public static let readOnly = Code(SQLITE_READONLY)
        /// SQLITE_IOERR: the operating system refused a read or write.
        public static let ioError = Code(SQLITE_IOERR)

        public var description: String { String(cString: sqlite3_errstr(rawValue)) }
    }

    /// The extended result code as SQLite returned it.
    public var extendedCode: Int32
    public var message: String
    public var sql: String?

    public var code: Code { Code(extendedCode & 0xFF) }

    public var description: String {
        var text = "SQLite error \(extendedCode) (\(code)): \(message)"
        if let sql { text += " — in: \(sql)" }
        if code == .busy {
            text += " — another gmem-audit held the store's write lock for the whole busy timeout (\(Store.busyTimeoutSeconds) s); run this again when it has finished"
        }
        return text
    }
}
