import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// A gmem store: the hash-chained event log in one SQLite file, with the engine's verdicts and
/// state snapshots beside it. Writing goes through `ingest`, one SQLite transaction per batch;
/// reading commands open the store read-only.
public final class Store {
    public let database: Database
    public let isReadOnly: Bool
    /// Take a periodic snapshot whenever seq is a multiple of this (batch ends always get one).
    public var snapshotInterval: Int64 = Store.defaultSnapshotInterval

    /// The size a writer truncates the WAL back to when it restarts it after a complete
    /// checkpoint (`PRAGMA journal_size_limit`): a WAL swollen by a big batch or a long reader
    /// shrinks again once the readers are gone. docs/RELIABILITY.md gives the whole policy.
    public static let walSizeLimit: Int64 = 16 << 20

    /// How long a writer waits for another process's batch to commit before it gives up
    /// (`PRAGMA busy_timeout`): a batch of a big trace takes seconds to minutes, and a second
    /// `ingest` or `audit` should queue behind it rather than fail. README's Reliability
    /// section states the same figure.
    public static let busyTimeoutSeconds = 60

    /// The engine at the head of the log, kept between batches of this process.
    private var head: (seq: Int64, hash: [UInt8], engine: Engine)?
    /// The forensic index writer at the head, kept with `head`.
    private var forensicHead: ForensicIndexWriter?
    /// The private copy an `--immutable` read of a store with a non-empty `-wal` reads from;
    /// removed when the store closes.
    private let walCopy: StoreWALCopy?

    /// Opens (and for writing, creates and migrates) the store at `path`.
    ///
    /// Read-only with `immutable`, a store whose `-wal` holds frames is read from a private
    /// copy of both files (`StoreWALCopy`), so that no committed batch is left out and the
    /// original is never written.
    public init(path: String, access: Database.Access) throws(StoreError) {
        try Self.checkFileKind(path)
        if case .readOnly = access, !Self.fileExists(path) { throw .missingStore(path: path) }
        try Self.checkWholeFile(path)
        var opened = access
        if case .readWrite = access {
            Self.removeAbandonedScratchFiles(path)
            try Self.createIfMissing(path)
            walCopy = nil
        } else if case .readOnly(immutable: true) = access, StoreWALCopy.walHasFrames(path) {
            let copy = try StoreWALCopy(of: path)
            walCopy = copy
            opened = .readOnly(immutable: false)
        } else {
            walCopy = nil
        }
        do {
            database = try Database(path: path, access: opened, file: walCopy?.path)
        } catch {
            throw Self.classify(error, path: path, access: access)
        }
        if case .readOnly = access { isReadOnly = true } else { isReadOnly = false }
        do {
            try database.execute("PRAGMA busy_timeout = \(Self.busyTimeoutSeconds * 1000)")
            let version = try database.scalarInt("PRAGMA user_version") ?? 0
            let application = try database.scalarInt("PRAGMA application_id") ?? 0
            if version > 0 || application != 0 {
                guard application == Migrator.applicationID else {
                    throw StoreError.notAStore(path: path, reason: "its application_id is \(application), not gmem's")
                }
            } else if try isReadOnly || (database.scalarInt("SELECT count(*) FROM sqlite_schema") ?? 0) > 0 {
                throw StoreError.notAStore(path: path, reason: "it has no gmem schema")
            }
            guard version <= Migrator.latestVersion else {
                throw StoreError.newerSchema(path: path, found: version, supported: Migrator.latestVersion)
            }
            if isReadOnly {
                guard version == Migrator.latestVersion else {
                    throw StoreError.notAStore(path: path, reason: "schema version \(version) is older than \(Migrator.latestVersion); run an ingest to migrate it")
                }
            } else {
                try database.execute("PRAGMA journal_mode = WAL")
                try database.execute("PRAGMA synchronous = FULL")
                try database.execute("PRAGMA journal_size_limit = \(Self.walSizeLimit)")
                try Migrator.migrate(database)
            }
        } catch let error as StoreError {
            throw error
        } catch let error as SQLiteError {
            throw Self.classify(error, path: path, access: access)
        } catch {
            throw .notAStore(path: path, reason: "\(error)")
        }
    }

    private static func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The error a user can act on for a failed open: read-only media first (where SQLite
    /// says only "unable to open database file" or "attempt to write a readonly database").
    private static func classify(_ error: SQLiteError, path: String, access: Database.Access) -> StoreError {
        let failedToOpen = [.cantOpen, .readOnly, .ioError].contains(error.code)
        if failedToOpen, path != ":memory:", isOnReadOnlyMedia(path) {
            switch access {
            case .readWrite: return .readOnlyMedia(path: path, writing: true)
            case .readOnly(immutable: false): return .readOnlyMedia(path: path, writing: false)
            case .readOnly(immutable: true): break
            }
        }
        if case .readWrite = access, error.code == .cantOpen, path != ":memory:", !fileExists(directoryOf(path)) {
            return .missingDirectory(path: path, directory: directoryOf(path))
        }
        switch error.code {
        case .notADatabase, .corrupt: return .notAStore(path: path, reason: error.message)
        case .cantOpen where !fileExists(path): return .missingStore(path: path)
        default: return .database(error)
        }
    }

    // MARK: Reading the log

    /// The last event's seq and hash; (0, genesis) for an empty log.
    public func headLink() throws(SQLiteError) -> (seq: Int64, hash: [UInt8]) {
        let statement = try database.cached("SELECT seq, hash FROM event ORDER BY seq DESC LIMIT 1")
        defer { statement.reset() }
        guard try statement.step() else { return (0, HashChain.genesis) }
        return (statement.int(0), statement.blob(1))
    }

    /// A stored event row.
    public struct StoredEvent {
        public var seq: Int64
        public var batch: Int64
        public var body: String
        public var hash: [UInt8]
        public var expected: String?
        public var expectedErrorOffset: Int64?
        public var diverged: Bool

        /// The event decoded from its canonical body, with its recorded outcome.
        public func recorded() throws(StoreError) -> EventForm.Recorded {
            EventForm.Recorded(event: try decoded(), expected: expected, expectedErrorOffset: expectedErrorOffset, diverged: diverged)
        }

        /// The event, decoded from its canonical body.
        public func decoded() throws(StoreError) -> Event {
            do throws(EventDecodingError) {
                return try Event(jsonLine: body)
            } catch {
                throw StoreError.decode(file: "event", line: UInt64(seq), message: "stored body does not decode: \(error.description)")
            }
        }
    }

    /// Calls `body` for each event with `seq` in `range`, in order; stops when it returns false.
    public func forEachEvent(in range: ClosedRange<Int64>, _ body: (StoredEvent) throws -> Bool) throws {
        let statement = try database.prepare(
            "SELECT seq, batch, body, hash, expected, expected_error_offset, diverged FROM event WHERE seq BETWEEN ? AND ? ORDER BY seq")
        try statement.bind(1, range.lowerBound)
        try statement.bind(2, range.upperBound)
        while try statement.step() {
            let event = StoredEvent(
                seq: statement.int(0), batch: statement.int(1), body: statement.string(2), hash: statement.blob(3),
                expected: statement.optionalString(4), expectedErrorOffset: statement.optionalInt(5),
                diverged: statement.int(6) != 0)
            if try !body(event) { return }
        }
    }

    /// The newest snapshot at or before `seq`: its seq and state (seq 0 and an empty state when
    /// there is none). With `closedFilePages` false, closed gmem files come without their pages
    /// (they are stored apart, see `SnapshotFormat`): enough for what is open, and faster.
    public func snapshot(atOrBefore seq: Int64, closedFilePages: Bool = true) throws -> (seq: Int64, state: GmemState) {
        let statement = try database.cached("SELECT seq, state FROM snapshot WHERE seq <= ? ORDER BY seq DESC LIMIT 1")
        defer { statement.reset() }
        try statement.bind(1, seq)
        guard try statement.step() else { return (0, GmemState()) }
        let at = statement.int(0)
        var state = try StateCodec.decode(statement.blob(1))
        if closedFilePages { try SnapshotFormat.loadClosedFiles(into: &state, at: at, from: self) }
        return (at, state)
    }

    /// The engine after event `seq`: the nearest snapshot, then the events after it. With
    /// `closedFilePages` false its closed files have no pages (see `snapshot(atOrBefore:)`).
    public func engine(at seq: Int64, closedFilePages: Bool = true) throws -> Engine {
        let start = try snapshot(atOrBefore: seq, closedFilePages: closedFilePages)
        var engine = Engine(state: start.state)
        if start.seq < seq { try replay((start.seq + 1)...seq, into: &engine) }
        return engine
    }

    /// The seq of the last event whose `ts` is at or before `nanoseconds` (0 when none).
    /// Events without a ts are not compared: they count as happening where they stand in the log.
    /// Two index lookups: the event with the largest ts at or before the time (the last one when
    /// in order), and the last of the events whose ts ran backwards (`ts_disorder`).
    public func seq(atTime nanoseconds: Int64) throws(SQLiteError) -> Int64 {
        let inOrder = try database.cached(
            "SELECT seq FROM event WHERE ts IS NOT NULL AND ts <= ? ORDER BY ts DESC, seq DESC LIMIT 1")
        defer { inOrder.reset() }
        try inOrder.bind(1, nanoseconds)
        let candidate = try inOrder.step() ? inOrder.int(0) : 0
        let disorder = try database.cached("SELECT max(seq) FROM ts_disorder WHERE ts <= ?")
        defer { disorder.reset() }
        try disorder.bind(1, nanoseconds)
        _ = try disorder.step()
        return max(candidate, disorder.optionalInt(0) ?? 0)
    }

    // MARK: Writing

    /// What one batch did.
    public struct BatchSummary: Equatable, Sendable {
        public var batch: Int64?
        public var added = 0
        public var skipped = 0
        public var rejected = 0
        public var firstSeq: Int64?
        public var lastSeq: Int64?
        /// Set when the input was byte-identical to an earlier batch, so nothing was added.
        public var duplicateOfBatch: Int64?
    }

    /// Appends events inside one batch transaction. Obtained from `ingest`.
    public final class BatchWriter {
        unowned let store: Store
        let batch: Int64
        var engine: Engine
        var seq: Int64
        var hash: [UInt8]
        var summary = BatchSummary()
        var batchIDs: Set<String> = []
        var forensic: ForensicIndexWriter
        /// Closed files whose pages changed since the last snapshot (an unbind of a closed
        /// file's binding, or the close itself): their stored version must be renewed.
        var changedClosedFiles: Set<Int> = []

        init(store: Store, batch: Int64, seq: Int64, hash: [UInt8], engine: Engine, forensic: ForensicIndexWriter) {
            self.store = store
            self.batch = batch
            self.seq = seq
            self.hash = hash
            self.engine = engine
            self.forensic = forensic
            summary.batch = batch
        }

        /// Appends `event`: judges it, applies it, stores it with its verdict and hash.
        /// Returns the verdict, or nil when its producer id is already stored (skipped).
        @discardableResult
        public func append(_ event: Event) throws -> Verdict? {
            if let id = event.id {
                if try batchIDs.contains(id) || store.hasProducerID(id) {
                    summary.skipped += 1
                    return nil
                }
                batchIDs.insert(id)
            }
            let verdict = engine.evaluate(event)
            engine.commit(event, verdict)
            let body = event.canonicalJSON
            hash = HashChain.link(previous: hash, body: body)
            seq += 1
            let insert = try store.database.cached(
                "INSERT INTO event(seq, batch, ts, op, host, producer_id, body, hash, expected, expected_error_offset, diverged) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
            try insert.bind(1, seq)
            try insert.bind(2, batch)
            try insert.bind(3, event.ts)
            try insert.bind(4, event.op.name)
            try insert.bind(5, event.host)
            try insert.bind(6, event.id)
            try insert.bind(7, body)
            try insert.bind(8, hash)
            try insert.bind(9, verdict.expected)
            try insert.bind(10, verdict.expectedErrorOffset.map { Int64(bitPattern: $0) })
            try insert.bind(11, verdict.diverged ? 1 : 0)
            try insert.run()
            if !verdict.pieces.isEmpty {
                let touch = try store.database.cached("INSERT INTO event_touch(seq, gmem, page_lo, page_hi) VALUES (?,?,?,?)")
                for piece in verdict.pieces {
                    try touch.bind(1, seq)
                    try touch.bind(2, engine.state.files[piece.file].name)
                    try touch.bind(3, Int64(bitPattern: piece.pages.lowerBound))
                    try touch.bind(4, Int64(bitPattern: piece.pages.upperBound))
                    try touch.run()
                }
            }
            for piece in verdict.pieces where !engine.state.files[piece.file].isOpen { changedClosedFiles.insert(piece.file) }
            try forensic.record(
                store: store, seq: seq, ts: event.ts, body: body,
                spans: verdict.pieces.map { (engine.state.files[$0.file].name, $0.pages) },
                form: { EventForm.encode(event, expected: verdict.expected, expectedErrorOffset: verdict.expectedErrorOffset, diverged: verdict.diverged) })
            try FrameIndex.record(FrameIndex.spans(of: event, verdict: verdict) { engine.state.files[$0].name }, seq: seq, in: store)
            if store.snapshotInterval > 0, seq % store.snapshotInterval == 0 {
                try store.writeSnapshot(seq: seq, state: engine.state, changedClosedFiles: &changedClosedFiles)
            }
            summary.added += 1
            summary.firstSeq = summary.firstSeq ?? seq
            summary.lastSeq = seq
            return verdict
        }

        /// Keeps an undecodable line (`--quarantine`).
        public func reject(source: String, line: UInt64, text: String, reason: String) throws {
            let insert = try store.database.cached("INSERT INTO reject(batch, source, line, text, reason) VALUES (?,?,?,?,?)")
            try insert.bind(1, batch)
            try insert.bind(2, source)
            try insert.bind(3, Int64(line))
            try insert.bind(4, text)
            try insert.bind(5, reason)
            try insert.run()
            summary.rejected += 1
        }

        /// The engine state after the events appended so far.
        public var state: GmemState { engine.state }
    }

    func hasProducerID(_ id: String) throws -> Bool {
        let statement = try database.cached("SELECT 1 FROM event WHERE producer_id = ?")
        defer { statement.reset() }
        try statement.bind(1, id)
        return try statement.step()
    }

    func writeSnapshot(seq: Int64, state: GmemState, changedClosedFiles: inout Set<Int>) throws {
        try SnapshotFormat.storeClosedFiles(of: state, at: seq, changed: changedClosedFiles, in: self)
        changedClosedFiles.removeAll(keepingCapacity: true)
        let insert = try database.cached("INSERT OR REPLACE INTO snapshot(seq, state) VALUES (?, ?)")
        try insert.bind(1, seq)
        try insert.bind(2, StateCodec.encode(SnapshotFormat.withoutClosedFilePages(state)))
        try insert.run()
    }

    /// Runs one batch in one SQLite transaction: `body` appends events through the writer and
    /// returns the SHA-256 of the input's bytes (nil when there is no input file). Either the
    /// whole batch is committed, with a snapshot of the state at its end, or nothing is: when
    /// `body` throws, or when the input is byte-identical to an earlier batch (then nothing is
    /// added and the summary names that batch).
    public func ingest(source: String, format: String, _ body: (BatchWriter) throws -> [UInt8]?) throws -> BatchSummary {
        precondition(!isReadOnly, "ingest on a read-only store")
        var finished: BatchWriter?
        let summary = try database.writeTransaction { () throws -> BatchSummary in
            let link = try headLink()
            let engine: Engine
            if let head, head.seq == link.seq, head.hash == link.hash {
                engine = head.engine
            } else {
                engine = try self.engine(at: link.seq)
            }
            let insertBatch = try database.cached("INSERT INTO batch(source, format, started_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))")
            try insertBatch.bind(1, source)
            try insertBatch.bind(2, format)
            try insertBatch.run()
            let batch = database.lastInsertRowID
            let forensic: ForensicIndexWriter
            if let forensicHead, let head, head.seq == link.seq, head.hash == link.hash {
                forensic = forensicHead
            } else {
                forensic = try ForensicIndexWriter(store: self, seq: link.seq)
            }
            let writer = BatchWriter(store: self, batch: batch, seq: link.seq, hash: link.hash, engine: engine, forensic: forensic)
            let contentHash = try body(writer)
            if let contentHash {
                let earlier = try database.cached("SELECT id FROM batch WHERE content_hash = ? AND id <> ? ORDER BY id LIMIT 1")
                defer { earlier.reset() }
                try earlier.bind(1, contentHash)
                try earlier.bind(2, batch)
                if try earlier.step() {
                    var summary = BatchSummary()
                    summary.duplicateOfBatch = earlier.int(0)
                    throw DuplicateBatch(summary: summary)
                }
            }
            if writer.summary.added > 0 {
                try writeSnapshot(seq: writer.seq, state: writer.engine.state, changedClosedFiles: &writer.changedClosedFiles)
                // Batch-end snapshots off the periodic grid are only needed at the head.
                let prune = try database.cached("DELETE FROM snapshot WHERE seq < ? AND seq % ? <> 0")
                try prune.bind(1, writer.seq)
                try prune.bind(2, max(snapshotInterval, 1))
                try prune.run()
            }
            let update = try database.cached(
                "UPDATE batch SET content_hash = ?, first_seq = ?, last_seq = ?, added = ?, skipped = ?, rejected = ? WHERE id = ?")
            try update.bind(1, contentHash)
            try update.bind(2, writer.summary.firstSeq)
            try update.bind(3, writer.summary.lastSeq)
            try update.bind(4, Int64(writer.summary.added))
            try update.bind(5, Int64(writer.summary.skipped))
            try update.bind(6, Int64(writer.summary.rejected))
            try update.bind(7, batch)
            try update.run()
            finished = writer
            return writer.summary
        }
        if let finished {
            head = (finished.seq, finished.hash, finished.engine)
            forensicHead = finished.forensic
        }
        return summary
    }

    /// Thrown inside the batch transaction to roll back an input already ingested.
    struct DuplicateBatch: Error {
        var summary: BatchSummary
    }

    /// `ingest`, answering a byte-identical input with a summary instead of an error.
    public func ingestOnce(source: String, format: String, _ body: (BatchWriter) throws -> [UInt8]?) throws -> BatchSummary {
        do {
            return try ingest(source: source, format: format, body)
        } catch let duplicate as DuplicateBatch {
            return duplicate.summary
        }
    }

    /// Appends one event in its own transaction (the library API for a live producer).
    @discardableResult
    public func append(_ event: Event) throws -> Verdict? {
        var verdict: Verdict?
        _ = try ingest(source: "<api>", format: "api") { writer in
            verdict = try writer.append(event)
            return nil
        }
        return verdict
    }

    /// Appends events as one batch in one transaction (the library API for bulk producers).
    @discardableResult
    public func append(contentsOf events: some Sequence<Event>) throws -> BatchSummary {
        try ingest(source: "<api>", format: "api") { writer in
            for event in events { try writer.append(event) }
            return nil
        }
    }
}
