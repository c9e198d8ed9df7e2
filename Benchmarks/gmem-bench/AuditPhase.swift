import GmemStore

/// The audit row of the benchmark: every rule over the whole log of `store`.
///
/// This is the one place the benchmark meets the auditor. A build without the auditor returns
/// nil and the row reads "audit: not in this build"; with it, this runs the auditor over every
/// event and returns how many events it judged and how many findings it made.
enum AuditPhase {
    static func run(store: Store) throws -> (events: Int, findings: Int)? {
        nil
    }
}
