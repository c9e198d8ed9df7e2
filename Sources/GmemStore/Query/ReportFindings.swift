/// A finding as the report marks and lists it (the CLI.md finding shape, the fields the report
/// shows).
public struct ReportFinding: Equatable, Sendable {
    public var seq: Int64
    public var rule: String
    public var name: String
    public var severity: String
    public var gmem: String?
    public var offset: UInt64?
    public var size: UInt64?
    public var message: String

    public init(seq: Int64, rule: String, name: String = "", severity: String, gmem: String? = nil, offset: UInt64? = nil, size: UInt64? = nil, message: String) {
        self.seq = seq
        self.rule = rule
        self.name = name
        self.severity = severity
        self.gmem = gmem
        self.offset = offset
        self.size = size
        self.message = message
    }
}

extension ReportFinding {
    /// The findings the audit stored in the store's `finding` table, ordered by seq then rule;
    /// none when the store has no such table (no audit has run, or a build without one).
    /// Columns are read by name (`seq`, `rule`, `name`, `severity`, `gmem`, `offset`, `size`,
    /// `message`); a column the table lacks reads as empty.
    public static func stored(in store: Store) throws(SQLiteError) -> [ReportFinding] {
        let exists = try store.database.scalarInt("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'finding'") ?? 0
        guard exists > 0 else { return [] }
        let columns = try store.database.prepare("SELECT name FROM pragma_table_info('finding')")
        var names: Set<String> = []
        while try columns.step() { names.insert(columns.string(0)) }
        func column(_ name: String) -> String { names.contains(name) ? name : "NULL" }
        guard names.contains("seq"), names.contains("rule") else { return [] }
        let rows = try store.database.prepare("""
            SELECT seq, rule, \(column("name")), \(column("severity")), \(column("gmem")), \(column("offset")), \
            \(column("size")), \(column("message")) FROM finding ORDER BY seq, rule
            """)
        var findings: [ReportFinding] = []
        while try rows.step() {
            findings.append(ReportFinding(
                seq: rows.int(0), rule: rows.string(1), name: rows.optionalString(2) ?? "", severity: rows.optionalString(3) ?? "",
                gmem: rows.optionalString(4), offset: rows.optionalInt(5).map { UInt64(bitPattern: $0) },
                size: rows.optionalInt(6).map { UInt64(bitPattern: $0) }, message: rows.optionalString(7) ?? ""))
        }
        return findings
    }
}
