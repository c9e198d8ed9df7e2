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
    /// The VM the finding concerns, when it names one (a finding on guest physical addresses
    /// or on host frames has no gmem page to be drawn on: it is marked on its VM's lane).
    public var vm: String?
    /// The guest physical range, for a finding on addresses no memslot binds (GM-R13).
    public var gpa: UInt64?
    public var gpaSize: UInt64?
    public var message: String

    public init(
        seq: Int64, rule: String, name: String = "", severity: String, gmem: String? = nil, offset: UInt64? = nil, size: UInt64? = nil,
        vm: String? = nil, gpa: UInt64? = nil, gpaSize: UInt64? = nil, message: String
    ) {
        self.seq = seq
        self.rule = rule
        self.name = name
        self.severity = severity
        self.gmem = gmem
        self.offset = offset
        self.size = size
        self.vm = vm
        self.gpa = gpa
        self.gpaSize = gpaSize
        self.message = message
    }
}

extension ReportFinding {
    /// The findings the audit stored (`gmem-audit audit`), ordered by seq then rule; none
    /// before a first audit.
    public static func stored(in store: Store) throws -> [ReportFinding] {
        try store.findings().map { finding in
            let guest = finding.ranges.first { $0.gmem == nil }
            return ReportFinding(
                seq: finding.seq, rule: finding.rule, name: finding.name, severity: finding.severity.rawValue,
                gmem: finding.gmem, offset: finding.offset, size: finding.size, vm: finding.vm ?? guest?.vm,
                gpa: finding.gmem == nil ? guest?.offset : nil, gpaSize: finding.gmem == nil ? guest?.size : nil,
                message: finding.message)
        }
    }
}
