import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// `gmem-audit watch`: follows inputs as they grow, merges them by time, commits small batches,
/// audits each and hands the new findings over at once (docs/WATCH.md).
///
/// - **Batches**: at most every `batchEvents` lines or `batchInterval` ns after the oldest line
///   waiting, whichever comes first; each batch is one transaction (all of it or nothing), with
///   every source's checkpoint in it.
/// - **Merge**: as `ingest --merge` (smallest key first, stable within a source), with a
///   watermark: a source idle for longer than `watermark` ns does not hold the others back. An
///   item whose key is below one already appended from another source is appended in arrival
///   order and counted as late.
/// - **Restart**: a file continues after its checkpoint's offset when the file there still holds
///   the bytes read (same inode, same hash of everything before the offset); a file renamed away
///   by a rotation is found beside the path by its inode and read to its end first. A stream
///   left open by a `watch` that did not stop cleanly is reported as lost (`lostStreams`).
/// - **Identity**: whenever every source is a regular file read whole up to its end (no late
///   item), the batch records the inputs' content hash as `ingest` computes it: `ingest` of the
///   same files then adds nothing, and `watch` of a file `ingest` already stored starts at its end.
public final class WatchSession {
    /// Lines per batch at most.
    public var batchEvents = 1000
    /// Nanoseconds a read line waits for its batch at most.
    public var batchInterval: UInt64 = 20_000_000
    /// Nanoseconds of silence after which a source no longer holds the others back.
    public var watermark: UInt64 = 200_000_000
    /// The VM trace lines belong to (`--vm`), nil: the only live VM.
    public var vm: String? {
        didSet { resolver.vm = vm }
    }
    /// The kernel profile written into each `vm_create` that names none.
    public var kernel: KernelProfile = .standard

    /// Called after each batch is committed and audited, with its findings (in seq order).
    public var onFindings: (([Finding], Store.BatchSummary) throws -> Void)?

    /// The store written: after a `rotate`, the one that continues the store before it.
    public private(set) var store: Store
    let sources: [LiveSource]
    private var resolver = TraceResolver()
    private var emitted: [(source: Int, item: LiveSource.Item)] = []
    private var oldestWaiting: UInt64?
    /// The auditor at the audit head this session stored last (its batches audit themselves).
    private var cachedAuditor: CachedAuditor?
    /// Distinguishes this run's batches from any other's (`batch.read_as`).
    private let run: String

    /// What the session did, for the summary.
    public private(set) var added = 0
    public private(set) var batches = 0
    public private(set) var findings = 0
    /// The last seq whose findings were handed over.
    public private(set) var reported: Int64 = 0
    /// Names of streams whose previous `watch` stopped without committing what it read.
    public private(set) var lostStreams: [String] = []
    /// Notes for stderr about how each source was resumed.
    public private(set) var notes: [String] = []

    /// Opens a session over `inputs` (in the order given: ties in the merge go to the earlier),
    /// reading each from its checkpoint in `store`.
    public init(store: Store, inputs: [FollowedInput]) throws {
        self.store = store
        self.sources = inputs.map { LiveSource(input: $0, format: $0.name == "tracefs" ? .ftrace : nil) }
        run = "\(getpid())@\(monotonicNanoseconds())"
        if let recorded = try store.recordedSnapshotInterval() { store.snapshotInterval = recorded }
        try resume()
    }

    /// `ingest`'s `read_as` for these inputs, read whole: what identifies them as one batch.
    var wholeReadAs: String {
        var words = sources.map { _ in "format=auto" }
        if let vm { words.append("vm=" + vm) }
        words.append("kernel=" + kernel.rawValue)
        return words.joined(separator: " ")
    }

    // MARK: Restart

    private func resume() throws {
        let reportedText = try store.setting(WatchCheckpoint.reportedKey)
        if let text = reportedText, let seq = Int64(text) { reported = seq } else { reported = try store.auditedSeq() }
        var openStreams: [String] = []
        var lostAfter: [Int64] = []
        for source in sources {
            let input = source.input
            let checkpoint = try store.watchCheckpoint(source.name)
            switch input.kind {
            case .stream:
                if let checkpoint, checkpoint.kind == .stream, checkpoint.open {
                    lostStreams.append(source.name)
                    lostAfter.append(checkpoint.seq)
                }
                openStreams.append(source.name)
            case .file:
                if let checkpoint, checkpoint.kind == .file {
                    try resumeFile(source, from: checkpoint)
                } else {
                    try skipIfIngested(source)
                }
            }
        }
        // What a killed run had read from a stream but not committed is gone: a `gap` event
        // (EVENTS.md §2) says so in the log, and GM-R15 reports it.
        if !lostStreams.isEmpty {
            _ = try store.ingest(source: "watch restart", format: "watch", readAs: "watch run=\(run) gap", headSnapshot: false) { writer in
                for (name, seq) in zip(lostStreams, lostAfter) {
                    try writer.append(Event(
                        .gap(source: name, lost: nil),
                        note: "a watch reading \(name) stopped without committing what it had read after seq \(seq) (at most one batch: --batch-ms or --batch-events)"))
                }
                return nil
            }
        }
        // Mark the streams open before reading a byte: a run killed before its first batch
        // leaves the mark too.
        if !openStreams.isEmpty {
            try store.database.writeTransaction { () throws(SQLiteError) in
                for name in openStreams {
                    var checkpoint = WatchCheckpoint(kind: .stream)
                    checkpoint.open = true
                    checkpoint.seq = try store.headLink().seq
                    try store.setSetting(WatchCheckpoint.key(for: name), checkpoint.text)
                }
            }
        }
    }

    /// Continues a file from its checkpoint, when the file (or, after a rotation, a sibling with
    /// its inode) still holds what was read; else reads the file at the path from its start.
    private func resumeFile(_ source: LiveSource, from checkpoint: WatchCheckpoint) throws {
        let input = source.input
        func take(_ description: String) {
            source.committedDevice = input.device
            source.committedInode = input.inode
            source.committedOffset = checkpoint.offset
            source.committedLine = checkpoint.line
            source.lastLineHash = checkpoint.lastLineHash
            // The prefix was just checked to be what was read: the hash goes on from it.
            source.hasher = FollowedInput.prefixHasher(descriptor: input.descriptor, length: checkpoint.offset) ?? SHA256()
            notes.append("\(source.name): \(description)")
        }
        if input.device == checkpoint.device, input.inode == checkpoint.inode, input.hashOfPrefix(checkpoint.offset) == checkpoint.prefixHash {
            input.resume(offset: checkpoint.offset, line: checkpoint.line)
            take("continues after line \(checkpoint.line) (byte \(checkpoint.offset))")
            return
        }
        if let sibling = Self.sibling(of: input.path!, device: checkpoint.device, inode: checkpoint.inode) {
            let descriptor = open(sibling, O_RDONLY | O_CLOEXEC)
            let matches = descriptor >= 0 && FollowedInput.hashOfPrefix(descriptor: descriptor, length: checkpoint.offset) == checkpoint.prefixHash
            if descriptor >= 0 { Glibc.close(descriptor) }
            if matches {
                try input.resumeRotated(sibling: sibling, offset: checkpoint.offset, line: checkpoint.line)
                take("rotated to \(sibling) while stopped: its rest is read first, then the new file")
                return
            }
        }
        notes.append("\(source.name): not the file the checkpoint names (inode \(checkpoint.inode), \(checkpoint.offset) bytes read): read from its start")
    }

    /// A file `ingest` already stored, read the way `watch` reads it: following starts at its end.
    private func skipIfIngested(_ source: LiveSource) throws {
        let input = source.input
        guard sources.count == 1 else { return }
        let size = input.fileSize
        guard size > 0 else { return }
        var hasher = SHA256()
        var lines: UInt64 = 0
        var lastByte: UInt8 = 0x0A
        var offset: UInt64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while offset < size {
            let want = Int(min(UInt64(buffer.count), size - offset))
            let count = buffer.withUnsafeMutableBytes { pread(input.descriptor, $0.baseAddress, want, off_t(offset)) }
            guard count > 0 else { return }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            for byte in buffer[..<count] where byte == 0x0A { lines += 1 }
            lastByte = buffer[count - 1]
            offset += UInt64(count)
        }
        guard lastByte == 0x0A else { return }  // an unterminated last line: read as it grows
        let hash = Array(hasher.finalize())
        guard let batch = try store.storedBatch(contentHash: hash, readAs: wholeReadAs) else { return }
        input.resume(offset: size, line: lines)
        source.committedOffset = size
        source.committedLine = lines
        source.hasher = hasher
        notes.append("\(source.name): already stored by batch \(batch): following from its end (line \(lines))")
    }

    /// The file in `path`'s directory with this device and inode (a rotated-away file).
    static func sibling(of path: String, device: UInt64, inode: UInt64) -> String? {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let prefix = slash.map { String(path[...$0]) } ?? ""
        guard let handle = opendir(directory.isEmpty ? "/" : directory) else { return nil }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard name != ".", name != ".." else { continue }
            let candidate = prefix + name
            var info = stat()
            if stat(candidate, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode, candidate != path {
                return candidate
            }
        }
        return nil
    }

    // MARK: Reading and merging

    /// Reads every source once, without blocking, and moves what the merge allows into the
    /// batch; commits when the batch is full or its oldest line has waited long enough.
    /// Returns the number of bytes read.
    @discardableResult
    public func step(now: UInt64 = monotonicNanoseconds()) throws -> Int {
        var total = 0
        for source in sources {
            total += try source.input.poll(now: now) { line in try source.take(line, arrival: now) }
        }
        try merge(now: now, draining: false)
        if let oldest = oldestWaiting, emitted.count >= batchEvents || now &- oldest >= batchInterval {
            try commit()
        }
        return total
    }

    /// True when every source has ended (standard input closed) and nothing waits.
    public var finished: Bool { sources.allSatisfy { $0.input.ended && $0.pending == 0 } && emitted.isEmpty }

    /// The descriptors worth waiting on (streams; files are looked at on a timer).
    public var streamDescriptors: [Int32] { sources.filter { $0.input.kind == .stream && !$0.input.ended }.map(\.input.descriptor) }
    public var followsFiles: Bool { sources.contains { $0.input.kind == .file } }

    /// Nanoseconds until the batch must be committed or a held-back source stops holding, when
    /// something waits.
    public func nextDeadline(now: UInt64) -> UInt64? {
        var deadline: UInt64?
        if let oldest = oldestWaiting { deadline = oldest &+ batchInterval }
        if sources.contains(where: { $0.pending > 0 }) {
            for source in sources where source.pending == 0 && !source.input.ended {
                let release = source.input.lastArrival &+ watermark
                deadline = min(deadline ?? release, release)
            }
        }
        return deadline.map { $0 > now ? $0 - now : 0 }
    }

    private func merge(now: UInt64, draining: Bool) throws {
        while true {
            var chosen: Int?
            for index in sources.indices {
                guard let item = sources[index].next else { continue }
                if let current = chosen, sources[current].next!.key <= item.key { continue }
                chosen = index
            }
            guard let index = chosen else { return }
            let key = sources[index].next!.key
            if !draining {
                for other in sources.indices where other != index && sources[other].pending == 0 && !sources[other].input.ended {
                    let source = sources[other]
                    if source.lastKey >= key { continue }
                    if now &- source.input.lastArrival > watermark { continue }
                    return  // it may still send something older
                }
            }
            let source = sources[index]
            let item = source.pop()
            if sources.indices.contains(where: { $0 != index && sources[$0].emittedMax > item.key }) { source.late += 1 }
            source.emittedMax = max(source.emittedMax, item.key)
            source.committed(item)
            emitted.append((index, item))
            oldestWaiting = min(oldestWaiting ?? item.arrival, item.arrival)
            if emitted.count >= batchEvents { try commit() }
        }
    }

    // MARK: Committing

    /// Appends everything the merge released as one batch, with every checkpoint, then audits it.
    public func commit(finalBatch: Bool = false) throws {
        if emitted.isEmpty {
            guard finalBatch else { return }
            try store.database.writeTransaction { () throws -> Void in
                let seq = try store.headLink().seq
                for source in sources { try writeCheckpoint(source, seq: seq, closing: true) }
                try store.setSetting(WatchCheckpoint.reportedKey, String(reported))
            }
            return
        }
        let batch = emitted
        emitted.removeAll(keepingCapacity: true)
        oldestWaiting = nil
        // Each source's lines of this batch are one stored input (a new one after a rotation).
        var inputFirst: [Int: Int] = [:]
        var chunks: [(source: Int, bytes: [UInt8], start: UInt64)] = []
        var positions: [(chunk: Int, line: UInt64)] = []
        positions.reserveCapacity(batch.count)
        var chunkLines: [Int] = []
        for (index, item) in batch {
            if case .newFile = item.content {
                inputFirst[index] = nil
                positions.append((-1, 0))
                continue
            }
            let chunk: Int
            if let existing = inputFirst[index] {
                chunk = existing
            } else {
                chunk = chunks.count
                chunks.append((index, [], item.line))
                chunkLines.append(0)
                inputFirst[index] = chunk
            }
            chunks[chunk].bytes.append(contentsOf: item.raw)
            chunkLines[chunk] += 1
            positions.append((chunk, UInt64(chunkLines[chunk])))
        }
        let names = sources.map(\.name).joined(separator: " + ")
        let at = chunks.map { "\(sources[$0.source].name)@\($0.start)" }.joined(separator: ",")
        let readAs = "watch run=\(run) " + wholeReadAs + (at.isEmpty ? "" : " lines=" + at)
        let wholeKey = wholeIdentity()
        let reportedSoFar = reported
        var audited: (findings: [Finding], auditor: CachedAuditor)?
        // The store's input writers hold their readers unowned until the batch commits.
        var readers: [LineReader] = []
        defer { withExtendedLifetime(readers) {} }
        let summary = try store.ingest(source: names, format: "watch", readAs: readAs, headSnapshot: finalBatch) { writer in
            var inputs: [Int64] = []
            var hashes: [[UInt8]] = []
            for chunk in chunks {
                // Named by where the piece starts: its events name the file and their line in
                // the whole file (`src`), the stored input holds only these lines.
                let reader = LineReader(name: "\(sources[chunk.source].name) from line \(chunk.start)", contents: chunk.bytes)
                readers.append(reader)
                inputs.append(try writer.storeInput(named: reader.name, reader: reader))
                while try reader.next({ _ in }) {}
                hashes.append(reader.contentHash)
            }
            for (position, (index, item)) in zip(positions, batch) {
                let at = position.chunk >= 0 ? Store.InputPosition(input: inputs[position.chunk], line: position.line) : nil
                switch item.content {
                case .nothing, .newFile: break
                case .event(let event):
                    try writer.append(event.namingKernel(kernel), at: at)
                case .record(let record):
                    _ = index
                    for var event in resolver.events(for: record, in: writer.state) {
                        event.source?.text = nil
                        try writer.append(event.namingKernel(kernel), at: at)
                    }
                }
            }
            for source in sources { try writeCheckpoint(source, seq: writer.seq, closing: finalBatch) }
            try store.setSetting(WatchCheckpoint.reportedKey, String(reportedSoFar))
            if let wholeKey { try store.setSetting(wholeKey, String(writer.batch)) }
            audited = try store.auditWithinTransaction(cached: cachedAuditor)
            return hashes.isEmpty ? nil : Store.contentHash(ofInputs: hashes)
        }
        batches += 1
        added += summary.added
        if let audited {
            cachedAuditor = audited.auditor
            try report(audited.findings, through: audited.auditor.seq, summary)
        } else {
            cachedAuditor = nil
            try auditAndReport(summary)
        }
    }

    private func report(_ found: [Finding], through seq: Int64, _ summary: Store.BatchSummary) throws {
        let named = try store.namingKernels(found.filter { $0.seq > reported })
        findings += named.count
        try onFindings?(named, summary)
        reported = max(reported, seq)
    }

    private func writeCheckpoint(_ source: LiveSource, seq: Int64, closing: Bool) throws {
        var checkpoint = WatchCheckpoint(kind: source.input.kind)
        checkpoint.seq = seq
        switch source.input.kind {
        case .file:
            checkpoint.device = source.committedDevice
            checkpoint.inode = source.committedInode
            checkpoint.offset = source.committedOffset
            checkpoint.line = source.committedLine
            checkpoint.lastLineHash = source.lastLineHash
            checkpoint.prefixHash = Array(source.hasher.finalize())
        case .stream:
            checkpoint.open = !closing
        }
        try store.setSetting(WatchCheckpoint.key(for: source.name), checkpoint.text)
    }

    /// The identity key to record with this batch when every source is a file read whole to its
    /// end with nothing left waiting and nothing late; nil otherwise.
    private func wholeIdentity() -> String? {
        var hashes: [[UInt8]] = []
        for source in sources {
            guard source.input.kind == .file, source.pending == 0, source.late == 0, source.input.isAtEndOfFile,
                source.committedOffset == source.input.offset, source.committedInode == source.input.inode, source.committedOffset > 0
            else { return nil }
            hashes.append(Array(source.hasher.finalize()))
        }
        return WatchCheckpoint.wholePrefix + wholeReadAs + ":" + HashChain.hex(Store.contentHash(ofInputs: hashes))
    }

    /// Audits with `Store.audit` (which starts again from the log's start when the stored
    /// findings cannot be continued) and reports the findings after `reported`.
    private func auditAndReport(_ summary: Store.BatchSummary) throws {
        let audit = try store.audit()
        guard audit.head > reported else { return }
        let found = try store.namingKernels(try store.findings(in: (reported + 1)...audit.head))
        findings += found.count
        try onFindings?(found, summary)
        reported = audit.head
    }

    /// Audits what an earlier run committed but did not report, and reports it.
    public func reportBacklog() throws {
        try auditAndReport(Store.BatchSummary())
    }

    /// Appends everything read (whatever the watermark), commits it with every stream marked
    /// closed, and audits it: the clean stop.
    public func stop() throws {
        let now = monotonicNanoseconds()
        for source in sources {
            _ = try source.input.poll(now: now) { line in try source.take(line, arrival: now) }
        }
        try merge(now: now, draining: true)
        let hadLines = !emitted.isEmpty
        try commit(finalBatch: true)
        // The findings of the last batch were printed after it committed: say so in the store.
        if hadLines {
            try store.database.writeTransaction { () throws(SQLiteError) in
                try store.setSetting(WatchCheckpoint.reportedKey, String(reported))
            }
        }
    }

    // MARK: Rotation

    /// Cuts the chain after the last committed batch (`watch --rotate`): the store at `path` is
    /// renamed to `archive`, and a new store at `path` continues it (`Store.createContinuing`:
    /// its genesis is bound to the old head, its state goes on). The checkpoints go on in the new
    /// store, so a restart with the same `--db` continues there. Lines read but not yet released
    /// by the merge go to the new store.
    ///
    /// A store another connection has open (a `state` or an `audit` an operator runs, in any
    /// process) is not renamed: SQLite finds a store's WAL by its name, so a reader of the old
    /// file would next read the new store's WAL as its own, and a writer among them would write
    /// its frames into it. Closing the last connection folds the WAL back and removes it; when
    /// it is still there after this session's close, someone else holds the store. The session
    /// then opens it again, goes on writing to it, and returns false: the rotation is left for
    /// a later call.
    @discardableResult
    public func rotate(path: String, archive: String) throws -> Bool {
        try commit(finalBatch: true)
        // A store given its interval passes it on; one on the default grid leaves the next on it.
        let interval = store.snapshotBudget == nil ? store.snapshotInterval : nil
        let snapshots = (interval: store.snapshotInterval, budget: store.snapshotBudget)
        // The old store is closed (its WAL folded back) before it is renamed.
        store = try Store(path: ":memory:", access: .readWrite)
        if access(path + "-wal", F_OK) == 0 {
            store = try Store(path: path, access: .readWrite)
            store.snapshotInterval = snapshots.interval
            store.snapshotBudget = snapshots.budget
            // The streams go on in this store: their checkpoints are open again.
            try store.database.writeTransaction { () throws in
                let seq = try store.headLink().seq
                for source in sources { try writeCheckpoint(source, seq: seq, closing: false) }
            }
            postponedRotations += 1
            return false
        }
        for suffix in ["", "-wal", "-shm"] where access(path + suffix, F_OK) == 0 {
            guard rename(path + suffix, archive + suffix) == 0 else {
                throw StoreError.unreadableInput(path: path + suffix, reason: "cannot rename it to \(archive + suffix): \(String(cString: strerror(errno)))")
            }
        }
        let previous = try Store(path: archive, access: .readOnly(immutable: false))
        let next = try Store.createContinuing(from: previous, at: path)
        if let interval { try next.recordSnapshotInterval(interval) }
        store = next
        cachedAuditor = nil
        reported = 0
        try store.database.writeTransaction { () throws in
            for source in sources { try writeCheckpoint(source, seq: 0, closing: false) }
            try store.setSetting(WatchCheckpoint.reportedKey, "0")
        }
        rotations += 1
        return true
    }

    /// Stores this session has cut the chain into.
    public private(set) var rotations = 0
    /// Rotations left for later because another connection had the store open.
    public private(set) var postponedRotations = 0

    /// Closes every input.
    public func close() {
        for source in sources { source.input.finish() }
    }

    /// Per source: name, lines read, what was skipped, late items, and where it stands.
    public var sourceSummaries: [String] {
        sources.map { source in
            var text = "\(source.name): \(source.lines) lines read"
            if source.input.kind == .file { text += ", at line \(source.committedLine) (byte \(source.committedOffset))" }
            if source.late > 0 { text += ", \(source.late) late (appended in arrival order)" }
            if source.input.rotations > 0 { text += ", \(source.input.rotations) rotation\(source.input.rotations == 1 ? "" : "s") followed" }
            if source.input.droppedTail > 0 { text += ", \(source.input.droppedTail) bytes of an unterminated line dropped at a rotation" }
            if source.skipped.total > 0 { text += ", \(source.skipped.total) trace lines skipped: " + source.skipped.summary() }
            return text
        }
    }
}
