import CSQLite
import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// A gmem store: the hash-chained event log in one SQLite file, with the engine's verdicts and
/// state snapshots beside it. Writing goes through `ingest`, one SQLite transaction per batch;
/// reading commands open the store read-only.
public final class Store {
    public let database: Database
    public let isReadOnly: Bool
    /// Snapshots go on a grid of seq, the multiples of this (batch ends always get one). Set
    /// (`ingest --snapshot-interval`, or the interval a store recorded), every grid seq gets a
    /// snapshot; left at the default, a grid seq gets one when it is due under
    /// `snapshotBudget`.
    public var snapshotInterval: Int64 = Store.defaultSnapshotInterval {
        didSet { snapshotBudget = nil }
    }
    /// The bytes of snapshot an event of the log may cost (`isGridSnapshotDue`); nil once an
    /// interval was set, for a snapshot at every grid seq.
    public var snapshotBudget: Int64? = Store.snapshotBytesPerEvent

    /// The size a writer truncates the WAL back to when it restarts it after a complete
    /// checkpoint (`PRAGMA journal_size_limit`): a WAL swollen by a big batch or a long reader
    /// shrinks again once the readers are gone. docs/RELIABILITY.md gives the whole policy.
    public static let walSizeLimit: Int64 = 16 << 20

    /// How long a writer waits for another process's batch to commit before it gives up
    /// (`PRAGMA busy_timeout`): a batch of a big trace takes seconds to minutes, and a second
    /// `ingest` or `audit` should queue behind it rather than fail. README's Reliability
    /// section states the same figure.
    public static let busyTimeoutSeconds = 60

    /// What the last batch of this process left at the head of the log — the engine, the
    /// forensic index writer, the event pack of the block the head is in — kept for the next
    /// batch while the head is still that one.
    private var head: (seq: Int64, hash: [UInt8], engine: Engine, forensic: ForensicIndexWriter, pack: EventPack.Builder)?
    /// Whether the store has event packs (schema 5 on): a store written before has only rows.
    private(set) var hasEventPacks = false
    /// The interned names, read as events need them.
    let names: NameTable
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
        names = NameTable(database: database)
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
            if version > 0, try StoreUpgrade.isOldLayout(database) { throw StoreError.oldLayout(path: path) }
            guard version <= Migrator.latestVersion else {
                throw StoreError.newerSchema(path: path, found: version, supported: Migrator.latestVersion)
            }
            hasEventPacks = version >= 5 || !isReadOnly
            if isReadOnly {
                guard version >= Migrator.readableFrom else {
                    throw StoreError.notAStore(
                        path: path,
                        reason: "schema version \(version) is older than \(Migrator.latestVersion); migrate it once with a writing command, "
                            + "`gmem-audit audit --db \(path)` (or an ingest): its derived indexes are rewritten, no event is")
                }
            } else {
                try database.execute("PRAGMA journal_mode = WAL")
                try database.execute("PRAGMA synchronous = FULL")
                try database.execute("PRAGMA journal_size_limit = \(Self.walSizeLimit)")
                try Migrator.migrate(database)
                try Self.appendNewOps(database)
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
        guard try statement.step() else { return (0, try genesisHash()) }
        return (statement.int(0), statement.blob(1))
    }

    /// A stored event: the event its columns hold, with its hash and the engine's verdict as
    /// recorded when it was appended.
    public struct StoredEvent {
        public var seq: Int64
        public var batch: Int64
        public var event: Event
        public var hash: [UInt8]
        public var expected: String?
        public var expectedErrorOffset: Int64?
        public var diverged: Bool
        /// For a `convert` appended under schema 3: whether it returned early (the
        /// `returned_early` column, `Verdict.returnedEarly`); nil otherwise.
        public var returnedEarly: Bool? = nil

        /// The event's canonical JSON, derived from its columns: what the hash chain covers.
        public var body: String { event.canonicalJSON }

        /// The event with its recorded outcome.
        public func recorded() -> RecordedEvent {
            RecordedEvent(event: event, expected: expected, expectedErrorOffset: expectedErrorOffset, diverged: diverged, returnedEarly: returnedEarly)
        }

        /// The event.
        public func decoded() -> Event { event }
    }

    /// The columns `storedEvent(from:)` reads, in order.
    static let storedEventColumns = "seq, batch, hash, expected, expected_error_offset, diverged, " + EventRow.columns + ", returned_early"

    /// How many event rows `storedEvent(from:)` has decoded on this connection: what a query
    /// read of the log (a page's history reads its own and its structural events, not the log).
    package private(set) var eventRowsRead = 0

    /// The stored event in a row selected with `storedEventColumns`.
    func storedEvent(from row: Statement) throws(StoreError) -> StoredEvent {
        let seq = row.int(0)
        eventRowsRead += 1
        do throws(EventRow.Malformed) {
            let event = try EventRow.event(from: row, at: 6, names: names)
            var expected: String?
            if let id = row.optionalInt(3) {
                guard let text = names.text(id) else { throw EventRow.Malformed(message: "names an unknown name id \(id)") }
                expected = text
            }
            return StoredEvent(
                seq: seq, batch: row.int(1), event: event, hash: row.blob(2), expected: expected,
                expectedErrorOffset: row.optionalInt(4), diverged: row.int(5) != 0,
                returnedEarly: row.optionalInt(6 + EventRow.columnCount).map { $0 != 0 })
        } catch {
            throw StoreError.decode(file: "event", line: UInt64(seq), message: "the stored row \(error.message)")
        }
    }

    /// The stored event `seq`, if there is one.
    public func storedEvent(_ seq: Int64) throws -> StoredEvent? {
        let row = try database.cached("SELECT \(Self.storedEventColumns) FROM event WHERE seq = ?")
        defer { row.reset() }
        try row.bind(1, seq)
        guard try row.step() else { return nil }
        return try storedEvent(from: row)
    }

    /// Calls `body` for each event with `seq` in `range`, in order; stops when it returns false.
    public func forEachEvent(in range: ClosedRange<Int64>, _ body: (StoredEvent) throws -> Bool) throws {
        let statement = try database.prepare("SELECT \(Self.storedEventColumns) FROM event WHERE seq BETWEEN ? AND ? ORDER BY seq")
        try statement.bind(1, range.lowerBound)
        try statement.bind(2, range.upperBound)
        while try statement.step() {
            if try !body(try storedEvent(from: statement)) { return }
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
        var state = try StateCodec.decode(SnapshotFormat.unpack(statement.blob(1)))
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

    // MARK: Writing

    /// What one batch did.
    public struct BatchSummary: Equatable, Sendable {
        public var batch: Int64?
        public var added = 0
        public var skipped = 0
        public var rejected = 0
        public var firstSeq: Int64?
        public var lastSeq: Int64?
        /// Set when the input was byte-identical to an earlier batch read the same way, so
        /// nothing was added.
        public var duplicateOfBatch: Int64?
    }

    /// Where an event was read: a stored input and its line.
    public struct InputPosition: Equatable, Sendable {
        public var input: Int64
        public var line: UInt64
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
        /// The event pack being filled: the block of the last event appended.
        var pack: EventPack.Builder
        private lazy var packCompressor = ZstdFrame.Compressor()
        /// Closed files whose pages changed since the last snapshot (an unbind of a closed
        /// file's binding, or the close itself): their stored version must be renewed.
        var changedClosedFiles: Set<Int> = []
        /// The inputs being stored, to be finished with the batch.
        var inputs: [InputArchive.Writer] = []
        /// Set by a `retract` appended in this batch: whether it dropped the stored findings,
        /// and how many snapshots.
        var retractionDroppedFindings = false
        var retractionDroppedSnapshots = 0
        /// The newest grid snapshot before this point of the batch (its seq and stored size),
        /// read from the store at the batch's first grid point: whether the next one is due.
        var lastGridSnapshot: (seq: Int64, bytes: Int64)?
        /// The canonical JSON of the event being appended: one buffer, reused for every event.
        private var canonical: [UInt8] = []
        /// The event insert, taken from the statement cache once per batch: every parameter is
        /// bound for each event, so it is neither looked up nor cleared per event.
        private var insertStatement: Statement?
        /// Rows inserted several to a statement, when the batch's body asked for it
        /// (`defersEventRows`); nil: each row is inserted when it is appended.
        private(set) var eventRows: EventRowBuffer?

        /// Inserts event rows several to a statement from here on (`EventRowBuffer`): only for
        /// a body that reads nothing of the event table between appends (a merge ingest); the
        /// rows are in before a retraction and when the body returns.
        func defersEventRows() throws {
            if eventRows == nil { eventRows = try EventRowBuffer(database: store.database) }
        }

        init(
            store: Store, batch: Int64, seq: Int64, hash: [UInt8], engine: Engine, forensic: ForensicIndexWriter, pack: EventPack.Builder
        ) {
            self.store = store
            self.pack = pack
            self.batch = batch
            self.seq = seq
            self.hash = hash
            self.engine = engine
            self.forensic = forensic
            summary.batch = batch
        }

        /// Starts storing an input of this batch: its bytes, as read, go to the returned
        /// archive writer; events read from it name it in `append(_:at:)`.
        public func storeInput(named name: String, reader: LineReader) throws -> Int64 {
            let archive = try InputArchive.Writer(batch: batch, name: name, database: store.database, reader: reader)
            inputs.append(archive)
            reader.rawObserver = { [unowned archive] bytes in archive.take(bytes) }
            return archive.input
        }

        /// Appends `event`: judges it, applies it, stores it with its verdict and hash, and
        /// (when it was read from a stored input) where it was read.
        /// Returns the verdict, or nil when its producer id is already stored (skipped).
        @discardableResult
        public func append(_ event: Event, at position: InputPosition? = nil) throws -> Verdict? {
            try append(event, at: position, body: nil)
        }

        /// `append(_:at:)` with the event's canonical body already written and its leaf hash
        /// taken (on the thread that read it, `PrefetchedSource`); nil to compute them here.
        func append(_ event: Event, at position: InputPosition?, body prepared: CanonicalBody?) throws -> Verdict? {
            if let id = event.id {
                if try batchIDs.contains(id) || store.hasProducerID(id) {
                    summary.skipped += 1
                    return nil
                }
                batchIDs.insert(id)
            }
            if event.op.isRetraction {
                try eventRows?.flush()
                try store.check(event.op, at: seq + 1)
            }
            let verdict = engine.evaluate(event)
            engine.commit(event, verdict)
            let leaf: [UInt8]
            // The inner Merkle nodes of the leaf, when the reading thread hashed them ahead.
            var nodes: [[UInt8]]?
            if let prepared {
                (hash, nodes) = prepared.link(after: hash)
                leaf = prepared.leaf
            } else {
                canonical.removeAll(keepingCapacity: true)
                event.appendCanonicalJSON(to: &canonical)
                hash = HashChain.link(previous: hash, canonical: canonical)
                leaf = Merkle.leafHash(canonical: canonical)
            }
            seq += 1
            engine.noteEvidence(of: event, seq: seq)
            let insert: Statement
            let first: Int32
            if let eventRows {
                insert = eventRows.statement
                first = eventRows.nextRow
            } else {
                insert = try insertStatement ?? store.database.cached(Store.insertEvent)
                insertStatement = insert
                first = 1
            }
            try insert.bind(first, seq)
            try insert.bind(first + 1, batch)
            let entry = try EventRow.bindColumns(of: event, to: insert, from: first + 2, names: store.names)
            let next = first + 2 + EventRow.columnCount
            try insert.bind(next, hash)
            try insert.bind(next + 1, try verdict.expected.map { try store.names.id(for: $0) })
            try insert.bind(next + 2, verdict.expectedErrorOffset.map { Int64(bitPattern: $0) })
            try insert.bind(next + 3, verdict.diverged ? 1 : 0)
            try insert.bind(next + 4, Store.isStructural(event.op, verdict) ? 1 : 0)
            try insert.bind(next + 5, position?.input)
            try insert.bind(next + 6, position.map { Int64(bitPattern: $0.line) })
            try insert.bind(next + 7, verdict.returnedEarly.map { $0 ? Int64(1) : 0 })
            if let eventRows { try eventRows.bound() } else { try insert.run() }
            if let packed = pack.add(entry, seq: seq) {
                try EventPack.write(block: packed.block, content: packed.content, to: store.database, zstd: packCompressor)
            }
            for piece in verdict.pieces where !engine.state.files[piece.file].isOpen { changedClosedFiles.insert(piece.file) }
            try forensic.record(
                store: store, seq: seq, ts: event.ts, leaf: leaf, nodes: nodes,
                spans: try verdict.pieces.map { (try store.names.id(for: engine.state.files[$0.file].name), $0.pages) },
                frames: FrameIndex.spans(of: event, verdict: verdict) { engine.state.files[$0].name })
            if case .retract(let batch, let first, let last, let lastHash, let reason) = event.op {
                try eventRows?.flush()
                // From here on the log is judged without the retracted events: the engine is
                // rebuilt without them, and what was computed with them is dropped.
                let retraction = Retraction(
                    seq: seq, batch: Int64(batch), seqs: Int64(first)...Int64(last), lastHash: lastHash, reason: reason)
                let applied = try store.applyRetraction(retraction, at: seq)
                engine = applied.engine
                retractionDroppedFindings = retractionDroppedFindings || applied.droppedFindings
                retractionDroppedSnapshots += applied.droppedSnapshots
                // Closed files' stored versions after the first retracted seq are gone: the
                // next snapshot stores every closed file again.
                for (index, file) in engine.state.files.enumerated() where !file.isOpen { changedClosedFiles.insert(index) }
                lastGridSnapshot = nil  // the grid after the retracted batch was written again
            }
            if store.snapshotInterval > 0, seq % store.snapshotInterval == 0 {
                if lastGridSnapshot == nil { lastGridSnapshot = try store.lastGridSnapshot(before: seq) }
                if store.isGridSnapshotDue(at: seq, after: lastGridSnapshot!) {
                    try forensic.flush(store: store, pages: false)
                    let bytes = try store.writeSnapshot(seq: seq, state: engine.state, changedClosedFiles: &changedClosedFiles)
                    lastGridSnapshot = (seq, bytes)
                }
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

    /// The event insert, built once: `append` looks it up in the statement cache per event.
    static let insertEvent =
        "INSERT INTO event(seq, batch, \(EventRow.columns), hash, expected, expected_error_offset, diverged, structural, input, input_line, returned_early) VALUES (?, ?, "
        + String(repeating: "?, ", count: Int(EventRow.columnCount)) + "?, ?, ?, ?, ?, ?, ?, ?)"

    /// True for the events that change something other than page runs: VMs, bindings, the set
    /// of gmem files, and (through a failed zap or S-EPT removal: an EIO observed or expected,
    /// TD-held pages in the range — which bug the VM under upstream-2026 though the operation
    /// returns ok —, a divergence, or an unresolved outcome) a VM's life. A page's history
    /// replays these by VM and gmem (`event_structure_vm`, `event_structure_gmem`).
    static func isStructural(_ op: Operation, _ verdict: Verdict) -> Bool {
        switch op {
        case .vmCreate, .vmDestroy, .vmBugged, .gmemCreate, .gmemClose, .bind, .unbind, .retract: true
        case .gap: true  // it marks VMs and files untrusted (Engine+Gap.swift)
        case .zap, .punchHole, .convert:
            verdict.expected == nil || verdict.expectedOutcome == .EIO || verdict.diverged || !verdict.blocked.isEmpty
        default: false
        }
    }

    func hasProducerID(_ id: String) throws -> Bool {
        let statement = try database.cached("SELECT 1 FROM event WHERE producer_id = ?")
        defer { statement.reset() }
        try statement.bind(1, id)
        return try statement.step()
    }

    /// Stores the state after `seq` (closed files apart) and returns the snapshot blob's size.
    @discardableResult
    func writeSnapshot(seq: Int64, state: GmemState, changedClosedFiles: inout Set<Int>) throws -> Int64 {
        try SnapshotFormat.storeClosedFiles(of: state, at: seq, changed: changedClosedFiles, in: self)
        changedClosedFiles.removeAll(keepingCapacity: true)
        let blob = SnapshotFormat.pack(state)
        let insert = try database.cached("INSERT OR REPLACE INTO snapshot(seq, state) VALUES (?, ?)")
        try insert.bind(1, seq)
        try insert.bind(2, blob)
        try insert.run()
        return Int64(blob.count)
    }

    /// Runs one batch in one SQLite transaction: `body` appends events through the writer and
    /// returns the SHA-256 of the input's bytes (nil when there is no input file). Either the
    /// whole batch is committed or nothing is: when `body` throws, or when the input is
    /// byte-identical to an earlier batch that was read the same way (`readAs`) and added
    /// events (then nothing is added and the summary names that batch). With `headSnapshot`, a
    /// batch that added events also stores the state at its end (a single `append` does not:
    /// its state is the last grid snapshot and the few events after it).
    public func ingest(
        source: String, format: String, readAs: String = "", headSnapshot: Bool = true, _ body: (BatchWriter) throws -> [UInt8]?
    ) throws -> BatchSummary {
        precondition(!isReadOnly, "ingest on a read-only store")
        var finished: BatchWriter?
        let summary: BatchSummary
        do {
            summary = try database.writeTransaction { () throws -> BatchSummary in
                let link = try headLink()
                // Taken out, so that the batch owns the engine's buffers instead of copying them
                // on its first change; a batch that fails leaves none, and the next one rebuilds.
                let kept = head.take().flatMap { $0.seq == link.seq && $0.hash == link.hash ? $0 : nil }
                let engine = try kept?.engine ?? self.engine(at: link.seq)
                let insertBatch = try database.cached(
                    "INSERT INTO batch(source, format, read_as, started_at) VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))")
                try insertBatch.bind(1, source)
                try insertBatch.bind(2, format)
                try insertBatch.bind(3, readAs)
                try insertBatch.run()
                let batch = database.lastInsertRowID
                let forensic = try kept?.forensic ?? ForensicIndexWriter(store: self, seq: link.seq)
                let pack = try kept?.pack ?? EventPack.Builder(next: link.seq + 1, database: database)
                let writer = BatchWriter(
                    store: self, batch: batch, seq: link.seq, hash: link.hash, engine: engine, forensic: forensic, pack: pack)
                let contentHash = try body(writer)
                try writer.eventRows?.flush()
                for input in writer.inputs { try input.finish() }
                if let contentHash, let earlier = try storedBatch(contentHash: contentHash, readAs: readAs, before: batch) {
                    var summary = BatchSummary()
                    summary.duplicateOfBatch = earlier
                    throw DuplicateBatch(summary: summary)
                }
                try writer.forensic.flush(store: self)
                if writer.summary.added > 0, headSnapshot {
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
        } catch {
            names.rollback()
            throw error
        }
        if let finished {
            head = (finished.seq, finished.hash, finished.engine, finished.forensic, finished.pack)
        }
        return summary
    }

    /// The earliest batch before `batch` with these input bytes, read the same way, that added
    /// events: a batch that added nothing (a wrong `--format`) never blocks a corrected ingest,
    /// and neither does a retracted one (`gmem-audit retract`). Inputs `watch` consumed whole
    /// count too (`watchedWhole`).
    public func storedBatch(contentHash: [UInt8], readAs: String, before batch: Int64 = .max) throws(SQLiteError) -> Int64? {
        let earlier = try database.cached(
            "SELECT id FROM batch WHERE content_hash = ? AND read_as = ? AND id < ? AND added > 0 "
                + "AND first_seq NOT IN (SELECT offset FROM event WHERE op = \(EventRow.opCodes["retract"]!)) ORDER BY id LIMIT 1")
        defer { earlier.reset() }
        try earlier.bind(1, contentHash)
        try earlier.bind(2, readAs)
        try earlier.bind(3, batch)
        if try earlier.step() { return earlier.int(0) }
        return try watchedWhole(contentHash: contentHash, readAs: readAs, before: batch)
    }

    /// Whether a batch of inputs of these sizes (bytes as given), read as `readAs`, may be one
    /// this store holds: false only when one of the sizes is that of no input of a batch read
    /// that way, and no `watch` recorded a whole input read that way (`watchedWhole`, which
    /// keeps no sizes). A conservative filter before `storedBatch`: true says "hash and look".
    func mayHoldInputs(sizes: [Int64], readAs: String) throws(SQLiteError) -> Bool {
        let watched = try database.cached("SELECT 1 FROM setting WHERE instr(key, ?) = 1 LIMIT 1")
        defer { watched.reset() }
        try watched.bind(1, WatchCheckpoint.wholePrefix + readAs + ":")
        if try watched.step() { return true }
        let input = try database.cached("SELECT 1 FROM input JOIN batch ON batch.id = input.batch WHERE batch.read_as = ? AND input.size = ? LIMIT 1")
        defer { input.reset() }
        for size in sizes {
            input.reset()
            try input.bind(1, readAs)
            try input.bind(2, size)
            guard try input.step() else { return false }
        }
        return true
    }

    /// The content hash of a batch read from inputs with these SHA-256s, in order: the one
    /// input's own, or the SHA-256 of all of them concatenated (a merge).
    public static func contentHash(ofInputs hashes: [[UInt8]]) -> [UInt8] {
        if hashes.count == 1 { return hashes[0] }
        var hasher = SHA256()
        for hash in hashes { hasher.update(data: hash) }
        return Array(hasher.finalize())
    }

    /// Thrown inside the batch transaction to roll back an input already ingested.
    struct DuplicateBatch: Error {
        var summary: BatchSummary
    }

    /// `ingest`, answering a byte-identical input with a summary instead of an error.
    public func ingestOnce(
        source: String, format: String, readAs: String = "", _ body: (BatchWriter) throws -> [UInt8]?
    ) throws -> BatchSummary {
        do {
            return try ingest(source: source, format: format, readAs: readAs, body)
        } catch let duplicate as DuplicateBatch {
            return duplicate.summary
        }
    }

    /// Appends one event in its own transaction (the library API for a live producer): durable
    /// when it returns, and it writes no snapshot of its own.
    @discardableResult
    public func append(_ event: Event) throws -> Verdict? {
        var verdict: Verdict?
        _ = try ingest(source: "<api>", format: "api", headSnapshot: false) { writer in
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
