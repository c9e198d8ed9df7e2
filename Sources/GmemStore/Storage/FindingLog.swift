/// What one `Store.audit` did.
public struct AuditSummary: Equatable, Sendable {
    /// Events audited by this run (0 when the stored findings were already up to date).
    public var audited: Int64 = 0
    /// Findings this run stored.
    public var added: Int = 0
    /// The last audited event: the head of the log.
    public var head: Int64 = 0
    /// Why the stored findings were dropped and the log audited from its start, when they were.
    public var restartReason: String?
}

extension Store {
    /// Audits the events not yet audited and stores their findings: the rules run over a
    /// replay that continues from the stored audit head (engine state and auditor memory), one
    /// transaction per `chunk` events. Findings already stored are kept with their ids; when
    /// the stored ones were made by another rule catalog, or the log at the audit head is not
    /// the one audited, they are dropped and the whole log is audited again.
    /// `progress` is called after each chunk with the seq audited up to and the head.
    @discardableResult
    public func audit(chunk: Int64 = 100_000, progress: ((Int64, Int64) -> Void)? = nil) throws -> AuditSummary {
        precondition(!isReadOnly, "audit stores findings: open the store read-write")
        var summary = AuditSummary()
        // The auditor a chunk ended with, and the head it saved: the next chunk continues from
        // it when the stored head is still that one, instead of decoding the state it saved.
        var carried: (seq: Int64, hash: [UInt8], auditor: Auditor)?
        while true {
            let done = try database.writeTransaction { () throws -> Bool in
                let link = try headLink()
                var auditor: Auditor
                var from: Int64
                if let head = try auditHeadLink(), head.catalog == RuleCatalog.signature, try eventHash(head.seq) == head.hash, head.seq <= link.seq {
                    // Taken out, so that the auditor's buffers stay uniquely referenced.
                    if let kept = carried.take(), kept.seq == head.seq, kept.hash == head.hash {
                        auditor = kept.auditor
                    } else {
                        auditor = try AuditCodec.decode(try auditHead()?.state ?? [])
                    }
                    from = head.seq
                } else {
                    carried = nil
                    if let head = try auditHeadLink() {
                        summary.restartReason = head.catalog != RuleCatalog.signature
                            ? "the findings were made by another rule catalog (\(head.catalog))"
                            : "the log at seq \(head.seq) is not the one audited"
                        try database.execute("DELETE FROM finding; DELETE FROM audit_head")
                    }
                    auditor = Auditor(engine: try genesisEngine())
                    from = 0
                }
                summary.head = link.seq
                guard from < link.seq else { return true }
                let to = min(link.seq, from + max(chunk, 1))
                let insert = try database.cached(
                    "INSERT INTO finding(\(Self.findingColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
                // The chunk's events are read ahead on a second thread, which holds the
                // connection until the loop ends: its findings are stored after it.
                var found: [Finding] = []
                try forEachEffectiveEvent(in: (from + 1)...to, readingAhead: true) { seq, event in
                    found += auditor.audit(event, seq: seq)
                }
                for finding in found {
                    for (index, value) in Self.columnValues(of: finding).enumerated() { try insert.bind(Int32(index + 1), value) }
                    try insert.run()
                }
                summary.added += found.count
                let lastHash = try eventHash(to) ?? []
                let save = try database.cached("INSERT OR REPLACE INTO audit_head(id, seq, hash, catalog, state) VALUES (1, ?, ?, ?, ?)")
                try save.bind(1, to)
                try save.bind(2, lastHash)
                try save.bind(3, RuleCatalog.signature)
                try save.bind(4, AuditCodec.encode(auditor))
                try save.run()
                carried = (to, lastHash, auditor)
                summary.audited += to - from
                progress?(to, link.seq)
                return to == link.seq
            }
            if done { return summary }
        }
    }

    /// The columns of the finding table that a finding's values fill, in order.
    static let findingColumns = "rule, severity, seq, ts, host, vm, gmem, offset, size, ranges, related, message"

    /// A finding's values for `findingColumns`: what `audit` stores and `verify` compares.
    static func columnValues(of finding: Finding) -> [EventRow.Value] {
        [
            .text(finding.rule), .text(finding.severity.rawValue), .integer(finding.seq), EventRow.Value(finding.ts),
            .text(finding.host), EventRow.Value(finding.vm), EventRow.Value(finding.gmem),
            EventRow.Value(finding.offset.map { Int64(bitPattern: $0) }), EventRow.Value(finding.size.map { Int64(bitPattern: $0) }),
            .text(rangesJSON(finding.ranges)), .text(relatedJSON(finding.related)), .text(finding.message),
        ]
    }

    /// The `ranges` column: the finding's ranges as a JSON array, in the order they were found.
    static func rangesJSON(_ ranges: [FindingRange]) -> String {
        JSONWriter.string(.array(ranges.map(\.json)), sortsKeys: false)
    }

    /// The `related` column: the related seqs as a JSON array.
    static func relatedJSON(_ related: [Int64]) -> String {
        JSONWriter.string(.array(related.map { .number(String($0)) }))
    }

    /// The stored audit head without its state, when an audit has run.
    func auditHeadLink() throws -> (seq: Int64, hash: [UInt8], catalog: String)? {
        let statement = try database.cached("SELECT seq, hash, catalog FROM audit_head WHERE id = 1")
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return (statement.int(0), statement.blob(1), statement.string(2))
    }

    /// The stored audit head, when an audit has run.
    func auditHead() throws -> (seq: Int64, hash: [UInt8], catalog: String, state: [UInt8])? {
        let statement = try database.cached("SELECT seq, hash, catalog, state FROM audit_head WHERE id = 1")
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return (statement.int(0), statement.blob(1), statement.string(2), statement.blob(3))
    }

    private func eventHash(_ seq: Int64) throws -> [UInt8]? {
        let statement = try database.cached("SELECT hash FROM event WHERE seq = ?")
        defer { statement.reset() }
        try statement.bind(1, seq)
        return try statement.step() ? statement.blob(0) : nil
    }

    /// The last event the stored findings cover (0 when no audit has run).
    public func auditedSeq() throws -> Int64 {
        try database.scalarInt("SELECT seq FROM audit_head WHERE id = 1") ?? 0
    }

    /// The stored findings whose triggering seq lies in `range`, ordered by seq, then rule.
    public func findings(in range: ClosedRange<Int64> = 0...Int64.max) throws -> [Finding] {
        let statement = try database.prepare(
            "SELECT id, rule, severity, seq, ts, host, vm, ranges, related, message FROM finding WHERE seq BETWEEN ? AND ? ORDER BY seq, rule")
        try statement.bind(1, range.lowerBound)
        try statement.bind(2, range.upperBound)
        var result: [Finding] = []
        while try statement.step() { result.append(try finding(from: statement)) }
        return result
    }

    /// The stored finding with `id`.
    public func finding(id: Int64) throws -> Finding? {
        let statement = try database.prepare(
            "SELECT id, rule, severity, seq, ts, host, vm, ranges, related, message FROM finding WHERE id = ?")
        try statement.bind(1, id)
        return try statement.step() ? try finding(from: statement) : nil
    }

    private func finding(from row: Statement) throws -> Finding {
        let id = row.int(0)
        let rule = row.string(1)
        func corrupt(_ what: String) -> StoreError {
            .notAStore(path: database.path, reason: "finding \(id) has \(what); run `gmem-audit verify`, then audit a copy of the log")
        }
        guard let severity = Severity(name: row.string(2)) else { throw corrupt("an unknown severity '\(row.string(2))'") }
        guard case .array(let rangeValues)? = try? JSONParser.parse(row.string(7)) else { throw corrupt("unreadable ranges") }
        guard case .array(let relatedValues)? = try? JSONParser.parse(row.string(8)) else { throw corrupt("unreadable related seqs") }
        let ranges = rangeValues.compactMap(FindingRange.init(json:))
        let related = relatedValues.compactMap { value -> Int64? in
            if case .number(let text) = value { return Int64(text) }
            return nil
        }
        return Finding(
            id: id, rule: rule, name: RuleCatalog.rule(rule)?.name ?? rule, severity: severity, seq: row.int(3),
            ts: row.optionalInt(4), host: row.string(5), vm: row.optionalString(6), ranges: ranges, related: related,
            message: row.string(9))
    }
}
