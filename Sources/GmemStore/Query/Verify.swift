import CSQLite

/// What `verify` found.
public struct VerifyReport: Sendable {
    /// The number of events checked.
    public var events: Int64 = 0
    public var snapshotsChecked = 0
    /// The Merkle subtree roots compared with a recomputation.
    public var merkleNodesChecked = 0
    /// The head as `SEQ:HASH`.
    public var head = "0:" + HashChain.hex(HashChain.genesis)
    /// The RFC 6962 root of every event as `SIZE:ROOT`: a checkpoint to keep beside the head.
    public var merkleRoot = "0:" + HashChain.hex(Merkle.emptyRoot)
    /// Problems found, the first bad seq first.
    public var problems: [String] = []
    /// The first event that failed a check.
    public var firstBadSeq: Int64?

    public var passed: Bool { problems.isEmpty }
}

/// Checks a store: SQLite's integrity, the hash chain, that seqs are gap-free, that each row's
/// columns say what its body says, that every verdict, snapshot and Merkle subtree root equals
/// a fresh replay, that the overlap index holds every resolved piece, and optionally that the
/// log still holds a head the user kept elsewhere.
public struct Verifier {
    public let store: Store

    public init(store: Store) {
        self.store = store
    }

    /// Runs every check. `progress` is called now and then with the seq reached and the head seq.
    public func run(expectHead: (seq: Int64, hash: [UInt8])? = nil, progress: ((Int64, Int64) -> Void)? = nil) throws -> VerifyReport {
        var report = VerifyReport()
        func problem(_ seq: Int64?, _ text: String) {
            if let seq, report.firstBadSeq == nil { report.firstBadSeq = seq }
            report.problems.append(seq.map { "seq \($0): \(text)" } ?? text)
        }
        let integrity = try store.database.prepare("PRAGMA integrity_check")
        while try integrity.step() {
            let line = integrity.string(0)
            if line != "ok" { problem(nil, "SQLite integrity: \(line)") }
        }
        // Snapshot seqs only: each blob is read when the replay reaches it.
        var snapshots: Set<Int64> = []
        let snapshotRows = try store.database.prepare("SELECT seq FROM snapshot")
        while try snapshotRows.step() { snapshots.insert(snapshotRows.int(0)) }
        let snapshotBlob = try store.database.prepare("SELECT state FROM snapshot WHERE seq = ?")
        var closedFiles: [Int64: [(file: Int, state: [UInt8])]] = [:]
        let closedRows = try store.database.prepare("SELECT file, seq, state FROM closed_file")
        while try closedRows.step() { closedFiles[closedRows.int(1), default: []].append((Int(closedRows.int(0)), closedRows.blob(2))) }
        var merkleNodes: [MerkleKey: [UInt8]] = [:]
        let nodeRows = try store.database.prepare("SELECT level, idx, hash FROM merkle_node")
        while try nodeRows.step() { merkleNodes[MerkleKey(level: Int(nodeRows.int(0)), index: UInt64(nodeRows.int(1)))] = nodeRows.blob(2) }
        var batches: [Int64: ClosedRange<Int64>] = [:]
        let batchRows = try store.database.prepare("SELECT id, first_seq, last_seq FROM batch WHERE first_seq IS NOT NULL")
        while try batchRows.step() { batches[batchRows.int(0)] = batchRows.int(1)...max(batchRows.int(1), batchRows.int(2)) }

        var engine = Engine()
        var frontier = MerkleFrontier()
        var previous = HashChain.genesis
        var expectedSeq: Int64 = 1
        var expectedHeadFound = expectHead == nil
        var pieces: Int64 = 0
        var frameSpans: Int64 = 0
        let frameIndexSince = try store.database.scalarInt("SELECT CAST(value AS INTEGER) FROM setting WHERE key = 'frame_index_since'") ?? 1
        let frameRow = try store.database.prepare(
            "SELECT pfn_hi, gmem, page_lo FROM frame_event WHERE level = ? AND bin = ? AND seq = ? AND pfn_lo = ?")
        let spanRow = try store.database.prepare(
            "SELECT page_hi, form FROM page_event WHERE gmem = ? AND level = ? AND bin = ? AND seq = ? AND page_lo = ?")
        let head = try store.headLink()
        let rows = try store.database.prepare(
            "SELECT seq, batch, ts, op, host, producer_id, body, hash, expected, expected_error_offset, diverged FROM event ORDER BY seq")
        while try rows.step() {
            let seq = rows.int(0)
            let body = rows.string(6)
            let hash = rows.blob(7)
            report.events += 1
            if seq != expectedSeq {
                problem(seq, "seq \(expectedSeq)…\(seq - 1) missing: the log has a gap")
            }
            expectedSeq = seq + 1
            if HashChain.link(previous: previous, body: body) != hash {
                problem(seq, "hash does not match its body and the previous hash: the event was changed")
            }
            previous = hash
            if let expectHead, expectHead.seq == seq {
                expectedHeadFound = true
                if hash != expectHead.hash {
                    problem(seq, "hash \(HashChain.hex(hash)) is not the expected head \(HashChain.hex(expectHead.hash)): the log was rewritten up to here")
                }
            }
            frontier.append(level: 0, hash: Merkle.leafHash(body: body)) { level, index, hash in
                guard level >= Merkle.storedLevel else { return }
                let key = MerkleKey(level: level, index: index)
                guard let stored = merkleNodes.removeValue(forKey: key) else {
                    return problem(seq, "Merkle subtree root of seqs \(index << UInt64(level) + 1)…\(seq) is missing")
                }
                report.merkleNodesChecked += 1
                if stored != hash { problem(seq, "Merkle subtree root of seqs \(index << UInt64(level) + 1)…\(seq) differs from a recomputation") }
            }
            if let progress, seq % 65_536 == 0 { progress(seq, head.seq) }
            let event: Event
            do {
                event = try Event(jsonLine: body)
            } catch {
                problem(seq, "stored body does not decode: \(error.description)")
                continue
            }
            if event.canonicalJSON != body {
                problem(seq, "body is not in canonical form")
            }
            let columns: [(String, Bool)] = [
                ("ts", rows.optionalInt(2) == event.ts),
                ("op", rows.string(3) == event.op.name),
                ("host", rows.string(4) == event.host),
                ("producer_id", rows.optionalString(5) == event.id),
                ("batch", batches[rows.int(1)]?.contains(seq) ?? false),
            ]
            for (column, agrees) in columns where !agrees {
                problem(seq, "column \(column) does not agree with the event body (or its batch): the row was changed")
            }
            let verdict = engine.apply(event)
            var form: [UInt8]?
            for piece in verdict.pieces where !piece.pages.isEmpty {
                pieces += 1
                let gmem = engine.state.files[piece.file].name
                let level = PageSpanIndex.level(of: piece.pages)
                try spanRow.bind(1, gmem)
                try spanRow.bind(2, Int64(level))
                try spanRow.bind(3, Int64(bitPattern: piece.pages.lowerBound >> UInt64(level)))
                try spanRow.bind(4, seq)
                try spanRow.bind(5, Int64(bitPattern: piece.pages.lowerBound))
                defer { spanRow.reset() }
                let span = "\(gmem) pages \(piece.pages.lowerBound)…\(piece.pages.upperBound - 1)"
                guard try spanRow.step() else {
                    problem(seq, "the page overlap index lacks the event's span \(span)")
                    continue
                }
                if spanRow.int(0) != Int64(bitPattern: piece.pages.upperBound) {
                    problem(seq, "the page overlap index's span \(span) ends elsewhere: the row was changed")
                }
                if let stored = spanRow.optionalBlob(1) {
                    let expected = form ?? EventForm.encode(
                        event, expected: verdict.expected, expectedErrorOffset: verdict.expectedErrorOffset, diverged: verdict.diverged)
                    form = expected
                    if stored != expected { problem(seq, "the page overlap index's form of the event differs from a replay: the row was changed") }
                }
            }
            if let difference = verdict.differences(
                storedExpected: rows.optionalString(8), storedErrorOffset: rows.optionalInt(9), storedDiverged: rows.int(10) != 0)
            {
                problem(seq, "stored verdict differs from a replay: \(difference)")
            }
            if seq >= frameIndexSince {
                for span in FrameIndex.spans(of: event, verdict: verdict, fileName: { engine.state.files[$0].name }) where FrameIndex.isIndexed(span) {
                    frameSpans += 1
                    let level = PageSpanIndex.level(of: span.frames)
                    try frameRow.bind(1, Int64(level))
                    try frameRow.bind(2, Int64(span.frames.lowerBound >> UInt64(level)))
                    try frameRow.bind(3, seq)
                    try frameRow.bind(4, Int64(span.frames.lowerBound))
                    defer { frameRow.reset() }
                    guard try frameRow.step() else {
                        problem(seq, "the frame index lacks the event's frames \(hex(span.frames.lowerBound))…\(hex(span.frames.upperBound - 1))")
                        continue
                    }
                    if frameRow.int(0) != Int64(span.frames.upperBound) || frameRow.optionalString(1) != span.gmem
                        || frameRow.optionalInt(2) != span.firstPage.map({ Int64(bitPattern: $0) })
                    {
                        problem(seq, "the frame index's row for frames \(hex(span.frames.lowerBound))… differs from a replay: the row was changed")
                    }
                }
            }
            if snapshots.contains(seq) {
                try snapshotBlob.bind(1, seq)
                _ = try snapshotBlob.step()
                let snapshot = snapshotBlob.blob(0)
                snapshotBlob.reset()
                report.snapshotsChecked += 1
                if StateCodec.encode(SnapshotFormat.withoutClosedFilePages(engine.state)) != snapshot
                    && StateCodec.encode(engine.state) != snapshot
                {
                    problem(seq, "stored snapshot differs from a replay")
                }
            }
            for closed in closedFiles.removeValue(forKey: seq) ?? [] {
                let files = engine.state.files
                guard closed.file < files.count, !files[closed.file].isOpen,
                    SnapshotFormat.encode(file: files[closed.file]) == closed.state
                else {
                    problem(seq, "stored closed gmem file #\(closed.file) differs from a replay")
                    continue
                }
            }
        }
        for seq in snapshots.sorted() where seq > head.seq || seq < 1 {
            problem(nil, "snapshot at seq \(seq) has no event")
        }
        for seq in closedFiles.keys.sorted() {
            problem(nil, "closed gmem file stored at seq \(seq) has no event")
        }
        for key in merkleNodes.keys.sorted(by: { ($0.level, $0.index) < ($1.level, $1.index) }) {
            problem(nil, "Merkle subtree root of seqs \(key.index << UInt64(key.level) + 1)…\((key.index + 1) << UInt64(key.level)) has no events: the log was cut short")
        }
        let spans = try store.database.scalarInt("SELECT count(*) FROM page_event") ?? 0
        if spans != pieces {
            problem(nil, "the page overlap index holds \(spans) spans, a replay resolves \(pieces): rebuild the store by exporting and ingesting it")
        }
        let frameRows = try store.database.scalarInt("SELECT count(*) FROM frame_event") ?? 0
        if frameRows != frameSpans {
            problem(nil, "the frame index holds \(frameRows) spans, a replay names \(frameSpans): rebuild the store by exporting and ingesting it")
        }
        if let expectHead, !expectedHeadFound {
            problem(head.seq + 1, "the log ends at seq \(head.seq), before the expected head \(expectHead.seq): seqs \(head.seq + 1)…\(expectHead.seq) were removed")
        }
        report.head = "\(head.seq):\(HashChain.hex(head.hash))"
        report.merkleRoot = "\(frontier.count):\(HashChain.hex(frontier.root))"
        return report
    }
}

/// A Merkle subtree: its level and its index at that level.
struct MerkleKey: Hashable {
    var level: Int
    var index: UInt64
}
