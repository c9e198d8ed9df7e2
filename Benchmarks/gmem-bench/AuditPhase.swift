import GmemStore

/// The audit row of the benchmark: every rule over the whole log of `store`, as
/// `gmem-audit audit` runs it (findings stored, the audit head saved per chunk).
enum AuditPhase {
    static func run(store: Store) throws -> (events: Int, findings: Int)? {
        let summary = try store.audit()
        return (Int(summary.audited), summary.added)
    }
}
