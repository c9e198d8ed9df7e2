/// The auditor a `WatchSession` keeps between its batches, at the audit head it stored last.
struct CachedAuditor {
    var seq: Int64
    var hash: [UInt8]
    var auditor: Auditor
}

extension Store {
    /// Audits the events after the stored audit head, inside the caller's write transaction (a
    /// `watch` batch: its events, their findings and the new audit head commit together, one
    /// fsync), storing the findings and the audit head as `audit` does. `cached` is the auditor
    /// this process left at the audit head, which spares decoding the stored one. Returns nil,
    /// having done nothing, when the stored findings cannot be continued (another rule catalog,
    /// or a log that is not the one audited): `audit` then starts again from the log's start.
    func auditWithinTransaction(cached: CachedAuditor?) throws -> (findings: [Finding], auditor: CachedAuditor)? {
        let link = try headLink()
        var auditor: Auditor
        var from: Int64 = 0
        if let stored = try auditHead() {
            let hash = try database.cached("SELECT hash FROM event WHERE seq = ?")
            defer { hash.reset() }
            try hash.bind(1, stored.seq)
            guard stored.catalog == RuleCatalog.signature, stored.seq <= link.seq, try hash.step(), hash.blob(0) == stored.hash else {
                return nil
            }
            if let cached, cached.seq == stored.seq, cached.hash == stored.hash {
                auditor = cached.auditor
            } else {
                auditor = try AuditCodec.decode(stored.state)
            }
            from = stored.seq
        } else {
            // A store that continues another starts from the state it carried (its snapshot 0).
            auditor = Auditor(engine: try genesisEngine())
        }
        var findings: [Finding] = []
        if from < link.seq {
            let insert = try database.cached("INSERT INTO finding(\(Self.findingColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
            try forEachDecodedEvent(in: (from + 1)...link.seq) { seq, event in
                for var finding in auditor.audit(event, seq: seq) {
                    for (index, value) in Self.columnValues(of: finding).enumerated() { try insert.bind(Int32(index + 1), value) }
                    try insert.run()
                    finding.id = database.lastInsertRowID
                    findings.append(finding)
                }
            }
            let save = try database.cached("INSERT OR REPLACE INTO audit_head(id, seq, hash, catalog, state) VALUES (1, ?, ?, ?, ?)")
            try save.bind(1, link.seq)
            try save.bind(2, link.hash)
            try save.bind(3, RuleCatalog.signature)
            try save.bind(4, AuditCodec.encode(auditor))
            try save.run()
        }
        findings.sort { ($0.seq, $0.rule) < ($1.seq, $1.rule) }
        return (findings, CachedAuditor(seq: link.seq, hash: link.hash, auditor: auditor))
    }
}
