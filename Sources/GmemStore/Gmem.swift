import Synchronization

/// A gmem store opened by a program that records guest_memfd events as they happen (a VMM, a
/// KVM test harness): the library's entry point. One `GmemLedger` owns one read-write
/// connection and serialises every call on it with a lock, so it can be shared by any number
/// of tasks and threads; other processes (`gmem-audit` commands, another ledger) may read and
/// write the same file at once, as SQLite's WAL and busy timeout allow.
///
/// ```swift
/// let ledger = try GmemLedger(path: "/var/lib/gmem/vm0.db")
/// try ledger.append(Event(.gmemCreate(vm: "td0", gmem: "g0", size: 1 << 20, flags: [], folioSize: 4096)))
/// ```
///
/// Each `append` is one SQLite transaction committed with `synchronous=FULL` before it
/// returns: durable across a crash or power loss, at the price of about one fsync.
@available(macOS 15.0, *)
public final class GmemLedger: Sendable {
    /// The file the ledger writes.
    public let path: String
    private let store: Mutex<Store>

    /// Opens the store at `path` for reading and writing, creating it (and its schema) when
    /// the file does not exist yet.
    public init(path: String) throws(StoreError) {
        self.path = path
        store = Mutex(try Store(path: path, access: .readWrite))
    }

    /// Appends one event and commits it: when this returns, the event is on disk at the head of
    /// the hash chain. Returns the engine's verdict on it, or nil when its producer `id` is
    /// already stored and the event was skipped. Writes no state snapshot of its own (the next
    /// batch or `audit` builds on the log as it is).
    @discardableResult
    public func append(_ event: Event) throws -> Verdict? {
        try store.withLock { store in try store.append(event) }
    }

    /// Appends `events` as one batch in one transaction: all of them or, on an error, none.
    /// The events are collected into an array before the lock is taken.
    @discardableResult
    public func append(contentsOf events: some Sequence<Event>) throws -> Store.BatchSummary {
        let batch = Array(events)
        return try store.withLock { store in try store.append(contentsOf: batch) }
    }

    /// Retracts batch `batch` (as `append(contentsOf:)` numbered it in its summary): records,
    /// in the log, that its events were wrong, for `reason`. From then on every replay, state
    /// and audit skip them; they stay in the log as evidence (docs/STORE.md, "Retracted
    /// batches"). Throws `RetractionError` for a batch that does not exist, added nothing, or
    /// was retracted already.
    @discardableResult
    public func retract(batch: Int64, reason: String) throws -> RetractSummary {
        try store.withLock { store in try store.retract(batch: batch, reason: reason) }
    }

    /// Runs `body` with read access to the ledger as of one moment: every read inside sees the
    /// same head, even while other processes append. `body` runs under the ledger's lock, so
    /// keep it short. `body` is `@Sendable` and what it returns `Sendable`, so that nothing of
    /// the connection escapes the lock (the compiler checks it).
    public func read<Result: Sendable>(_ body: @Sendable (borrowing Reader) throws -> Result) throws -> Result {
        try store.withLock { store in
            let reader = Reader(store: store)
            return try store.database.readTransaction { try body(reader) }
        }
    }

    /// Runs the audit rules over the events not yet audited, stores their findings, and returns
    /// every stored finding (docs/AUDIT.md lists the rules). Apply a `Policy` to the findings
    /// with `Policy.judge`.
    public func audit() throws -> Audit {
        try store.withLock { store in
            let summary = try store.audit()
            return Audit(summary: summary, findings: try store.findings())
        }
    }

    /// What `audit()` found.
    public struct Audit: Equatable, Sendable {
        /// What this run did: events audited, findings added, the head it reached.
        public var summary: AuditSummary
        /// Every stored finding, ordered by seq, then rule.
        public var findings: [Finding]
    }

    /// Read access to the ledger inside `read { … }`: one read transaction, one head.
    public struct Reader: ~Copyable {
        let store: Store

        /// The seq of the last event (0 when the log is empty).
        public func head() throws -> Int64 {
            try store.headLink().seq
        }

        /// The state of every VM, gmem file and page after event `seq` (the head when nil).
        public func state(at seq: Int64? = nil) throws -> GmemState {
            let at = try seq ?? head()
            return try store.engine(at: at).state
        }

        /// The event stored at `seq`, when there is one.
        public func event(at seq: Int64) throws -> Event? {
            try store.storedEvent(seq)?.event
        }

        /// Every event that touched the subject's pages, oldest first, with the pages' state
        /// before and after each (what `gmem-audit history` prints). With `bodies`, each entry
        /// carries the event's canonical JSON too.
        public func history(_ subject: History.Subject, bodies: Bool = false) throws -> [HistoryEntry] {
            try History(store: store).entries(for: subject, bodies: bodies)
        }

        /// The findings stored by the last `audit()`, whose triggering seq lies in `range`.
        public func findings(in range: ClosedRange<Int64> = 0...Int64.max) throws -> [Finding] {
            try store.findings(in: range)
        }
    }
}

// Every stored property of a history entry is a `Sendable` value (seq, Event, Verdict,
// StateRun, String); declared here so that `read { $0.history(…) }` can return entries.
extension HistoryEntry: @unchecked Sendable {}
