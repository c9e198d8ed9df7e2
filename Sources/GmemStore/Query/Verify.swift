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
        var inputs: [Int64: (batch: Int64, lines: Int64, name: String)] = [:]
        for input in try InputArchive.inputs(of: nil, in: store) { inputs[input.id] = (input.batch, input.lines, input.name) }
        func known(_ input: Int64) -> (batch: Int64, lines: Int64, name: String)? { inputs[input] }
        var lastLine: [Int64: Int64] = [:]
        let auditedTo = try store.auditedSeq()
        // A continuing store starts from the state and the genesis its record gives.
        let continuing = try checkContinuation(snapshots: snapshots, closedFiles: &closedFiles, problem: problem)
        var engine = try store.genesisEngine()
        var auditor = Auditor(engine: engine)
        var findings: [Finding] = []
        // Two judgements of the log when it holds retractions (docs/STORE.md, "Retracted
        // batches"): `engine` as each event was appended — under the retractions recorded
        // before it, which is what its verdict columns and index rows were written with — and
        // `effective`, the log as it now stands, every retracted event skipped, which is what
        // snapshots and findings hold. Without retractions the two are one.
        let retracted = try store.retractedEvents()
        var effective: Engine? = retracted.isEmpty ? nil : Engine()
        let hashAt = try store.database.prepare("SELECT hash FROM event WHERE seq = ?")

        var frontier = MerkleFrontier()
        var previous = try store.genesisHash()
        var expectedSeq: Int64 = 1
        var expectedHeadFound = expectHead == nil
        var pieces: Int64 = 0
        var frameSpans: Int64 = 0
        let frameRow = try store.database.prepare(
            "SELECT pfn_hi, gmem, page_lo FROM frame_event WHERE level = ? AND bin = ? AND seq = ? AND pfn_lo = ?")
        var packs = PackLookup(store: store)
        var eventPacks = EventPackCheck(store: store)
        let returnedEarlyFrom = try store.returnedEarlyFrom()
        let head = try store.headLink()
        let rows = try store.database.prepare(
            "SELECT \(Store.storedEventColumns), structural, input, input_line FROM event ORDER BY seq")
        let eventColumns = EventRow.columns.split(separator: ",").map { String($0.drop(while: { $0 == " " })) }
        let tail = 7 + EventRow.columnCount
        while try rows.step() {
            let seq = rows.int(0)
            let hash = rows.blob(2)
            report.events += 1
            if seq != expectedSeq {
                problem(min(seq, expectedSeq), "seq \(expectedSeq)…\(seq - 1) missing: the log has a gap")
            }
            expectedSeq = seq + 1
            defer { previous = hash }
            if let expectHead, expectHead.seq == seq {
                expectedHeadFound = true
                if hash != expectHead.hash {
                    problem(seq, "hash \(HashChain.hex(hash)) is not the expected head \(HashChain.hex(expectHead.hash)): the log was rewritten up to here")
                }
            }
            if let progress, seq % 65_536 == 0 { progress(seq, head.seq) }
            try eventPacks.add(row: rows, at: 6, seq: seq, problem: problem)
            let stored: Store.StoredEvent
            do {
                stored = try store.storedEvent(from: rows)
            } catch {
                problem(seq, "\(error): the row was changed")
                continue
            }
            let event = stored.event
            let body = event.canonicalJSON
            if HashChain.link(previous: previous, body: body) != hash {
                problem(seq, "hash does not match the event's columns and the previous hash: the event was changed")
            }
            // Every column holds exactly what the event gives it (an edit of a column the event
            // does not use leaves the canonical body as it was, so it is caught here).
            do {
                let values = try EventRow.values(of: event) { text in
                    guard let id = try store.names.existingID(for: text) else { throw EventRow.Malformed(message: "no name id") }
                    return id
                }
                for (index, value) in values.enumerated() where !value.isStored(in: rows, at: 6 + Int32(index)) {
                    problem(seq, "column \(eventColumns[index]) does not hold what the event gives it: the row was changed")
                }
            } catch {
                problem(seq, "a name of the event is not interned: the row was changed")
            }
            if !(batches[stored.batch]?.contains(seq) ?? false) {
                problem(seq, "column batch names batch \(stored.batch), whose seqs do not include this one: the row was changed")
            }
            switch (rows.optionalInt(tail + 1), rows.optionalInt(tail + 2)) {
            case (nil, nil):
                break
            case (let input?, let line?):
                // Where the event names its own input as its source (every event read without
                // --verbatim), the line is the one it names.
                let named = event.source.map { $0.file == known(input)?.name && Int64(bitPattern: $0.line) != line } ?? false
                if let known = inputs[input], known.batch == stored.batch, line >= 1, line <= known.lines, line >= lastLine[input] ?? 0, !named {
                    lastLine[input] = line
                } else {
                    problem(seq, "columns input, input_line (\(input), \(line)) name no line of this batch's inputs in order: the row was changed")
                }
            default:
                problem(seq, "columns input, input_line: one is missing: the row was changed")
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
            if seq <= auditedTo, !retracted.contains(seq) { findings += auditor.audit(event, seq: seq) }
            let verdict = engine.apply(event, seq: seq)
            if effective != nil, !retracted.contains(seq) { effective!.apply(event, seq: seq) }
            for piece in verdict.pieces where !piece.pages.isEmpty {
                pieces += 1
                let gmem = engine.state.files[piece.file].name
                let span = "\(gmem) pages \(piece.pages.lowerBound)…\(piece.pages.upperBound - 1)"
                let ends = try packs.ends(of: piece.pages.lowerBound, seq: seq, gmem: try store.names.existingID(for: gmem) ?? 0,
                    level: PageSpanIndex.level(of: piece.pages))
                if ends.isEmpty {
                    problem(seq, "the page overlap index lacks the event's span \(span): a page pack was changed")
                } else if !ends.contains(piece.pages.upperBound) {
                    problem(seq, "the page overlap index's span \(span) ends elsewhere: a page pack was changed")
                }
            }
            if let difference = verdict.differences(
                storedExpected: stored.expected, storedErrorOffset: stored.expectedErrorOffset, storedDiverged: stored.diverged)
            {
                problem(seq, "stored verdict differs from a replay: \(difference)")
            }
            if Store.isStructural(event.op, verdict) != (rows.int(tail) == 1) {
                problem(seq, "column structural differs from a replay: the row was changed")
            }
            // A conversion appended under schema 3 carries the replay's answer; every other
            // event, and a conversion appended before, none.
            let recordedEarly = rows.optionalInt(6 + EventRow.columnCount)
            let expectedEarly = seq >= returnedEarlyFrom ? verdict.returnedEarly.map { $0 ? Int64(1) : 0 } : nil
            if recordedEarly != expectedEarly {
                problem(seq, "column returned_early (\(recordedEarly.map(String.init) ?? "NULL")) differs from a replay (\(expectedEarly.map(String.init) ?? "NULL")): the row was changed")
            }
            for span in FrameIndex.spans(of: event, verdict: verdict, fileName: { engine.state.files[$0].name }) {
                frameSpans += 1
                let level = FrameIndex.level(of: span.frames)
                let key = ForensicIndexWriter.frameKey(span.frames.lowerBound)
                try frameRow.bind(1, Int64(level))
                try frameRow.bind(2, key >> Int64(level))
                try frameRow.bind(3, seq)
                try frameRow.bind(4, key)
                defer { frameRow.reset() }
                guard try frameRow.step() else {
                    problem(seq, "the frame index lacks the event's frames \(hex(span.frames.lowerBound))…\(hex(span.frames.upperBound))")
                    continue
                }
                let gmem = try span.gmem.map { try store.names.existingID(for: $0) ?? 0 }
                if frameRow.int(0) != ForensicIndexWriter.frameKey(span.frames.upperBound) || frameRow.optionalInt(1) != gmem
                    || frameRow.optionalInt(2) != span.firstPage.map({ Int64(bitPattern: $0) })
                {
                    problem(seq, "the frame index's row for frames \(hex(span.frames.lowerBound))… differs from a replay: the row was changed")
                }
            }
            if seq == auditedTo { try checkAuditHead(auditor, hash: hash, problem: problem) }
            if snapshots.contains(seq) {
                try snapshotBlob.bind(1, seq)
                _ = try snapshotBlob.step()
                let snapshot = (try? SnapshotFormat.unpack(snapshotBlob.blob(0))) ?? []
                snapshotBlob.reset()
                report.snapshotsChecked += 1
                let state = (effective ?? engine).state
                if StateCodec.encode(SnapshotFormat.withoutClosedFilePages(state)) != snapshot
                    && StateCodec.encode(state) != snapshot
                {
                    problem(seq, "stored snapshot differs from a replay")
                }
            }
            for closed in closedFiles.removeValue(forKey: seq) ?? [] {
                let files = (effective ?? engine).state.files
                guard closed.file < files.count, !files[closed.file].isOpen,
                    SnapshotFormat.encode(file: files[closed.file]) == closed.state
                else {
                    problem(seq, "stored closed gmem file #\(closed.file) differs from a replay")
                    continue
                }
            }
            if case .retract(_, let first, let last, let lastHash, _) = event.op {
                try hashAt.bind(1, Int64(last))
                if try !hashAt.step() || hashAt.blob(0) != lastHash || last >= UInt64(seq) {
                    problem(seq, "the retraction names seq \(last) with a hash that is not the log's there: the log was changed")
                }
                hashAt.reset()
                if let other = retracted.retractions.first(where: { $0.seq != seq && $0.seqs.overlaps(Int64(first)...Int64(last)) }) {
                    problem(seq, "the retraction overlaps the one at seq \(other.seq): the log was changed")
                }
                // The events after it were judged without what it retracted.
                let recorded = retracted.recorded(atOrBefore: seq)
                if let effective, recorded.retractions.count == retracted.retractions.count {
                    engine = effective
                } else {
                    engine = try store.engine(through: seq, skipping: recorded)
                }
            }
        }
        for seq in snapshots.sorted() where seq > head.seq || seq < (continuing ? 0 : 1) {
            problem(nil, "snapshot at seq \(seq) has no event")
        }
        for seq in closedFiles.keys.sorted() {
            problem(nil, "closed gmem file stored at seq \(seq) has no event")
        }
        for key in merkleNodes.keys.sorted(by: { ($0.level, $0.index) < ($1.level, $1.index) }) {
            problem(nil, "Merkle subtree root of seqs \(key.index << UInt64(key.level) + 1)…\((key.index + 1) << UInt64(key.level)) has no events: the log was cut short")
        }
        try eventPacks.checkCount(problem: problem)
        let spans = try packs.checkAll(problem: problem)
        if spans != pieces {
            problem(nil, "the page overlap index holds \(spans) spans, a replay resolves \(pieces): rebuild the store by exporting and ingesting it")
        }
        let frameRows = try store.database.scalarInt("SELECT count(*) FROM frame_event") ?? 0
        if frameRows != frameSpans {
            problem(nil, "the frame index holds \(frameRows) spans, a replay names \(frameSpans): rebuild the store by exporting and ingesting it")
        }
        try checkFindings(findings, auditedTo: auditedTo, problem: problem)
        try checkBatchesAndInputs(problem: problem)
        try checkTimeIndexes(problem: problem)
        try checkVocabulary(problem: problem)
        if let expectHead, !expectedHeadFound {
            problem(head.seq + 1, "the log ends at seq \(head.seq), before the expected head \(expectHead.seq): seqs \(head.seq + 1)…\(expectHead.seq) were removed")
        }
        report.head = "\(head.seq):\(HashChain.hex(head.hash))"
        report.merkleRoot = "\(frontier.count):\(HashChain.hex(frontier.root))"
        return report
    }
}

extension Verifier {
    typealias Problem = (Int64?, String) -> Void

    /// The stored findings are those a fresh audit of the log up to the audit head gives, row
    /// for row (ids in order, every column).
    func checkFindings(_ findings: [Finding], auditedTo: Int64, problem: Problem) throws {
        let rows = try store.database.prepare("SELECT id, \(Store.findingColumns) FROM finding ORDER BY id")
        let columns = Store.findingColumns.split(separator: ",").map { String($0.drop(while: { $0 == " " })) }
        var index = 0
        while try rows.step() {
            let id = rows.int(0)
            guard index < findings.count else {
                problem(rows.int(3), "finding \(id) is not one a fresh audit gives: the findings were changed")
                index += 1
                continue
            }
            if id != Int64(index + 1) { problem(findings[index].seq, "finding ids skip from \(index) to \(id): a finding was deleted") }
            for (column, value) in Store.columnValues(of: findings[index]).enumerated() where !value.isStored(in: rows, at: Int32(column + 1)) {
                problem(findings[index].seq, "finding \(id)'s \(columns[column]) differs from a fresh audit: the findings were changed")
            }
            index += 1
        }
        if index < findings.count {
            problem(findings[index].seq, "a fresh audit gives \(findings.count) findings up to seq \(auditedTo), the store holds \(index): findings were deleted")
        }
    }

    /// The audit head names the event it stopped at, with its hash, the rule catalog, and the
    /// auditor's state there.
    func checkAuditHead(_ auditor: Auditor, hash: [UInt8], problem: Problem) throws {
        guard let stored = try store.auditHead() else { return }
        // A catalog whose rules are a prefix of this build's (an audit made before a rule was
        // added) is this build's catalog for every log the older build could store: the findings,
        // compared row for row above, say whether the new rules would have fired.
        let catalog = stored.catalog == RuleCatalog.signature || RuleCatalog.signature.hasPrefix(stored.catalog + ",")
        if stored.hash != hash || !catalog || stored.state != AuditCodec.encode(auditor) {
            problem(stored.seq, "the audit head differs from a fresh audit (hash, rule catalog or auditor state): it was changed")
        }
    }

    /// Each batch's seqs and counts agree with its events and rejects, and each stored input's
    /// bytes hash to the content hash recorded for them and for their batch.
    func checkBatchesAndInputs(problem: Problem) throws {
        let batches = try store.database.prepare("""
            SELECT b.id, b.first_seq, b.last_seq, b.added, b.rejected, b.content_hash,
                   (SELECT count(*) FROM event e WHERE e.batch = b.id), (SELECT min(seq) FROM event e WHERE e.batch = b.id),
                   (SELECT max(seq) FROM event e WHERE e.batch = b.id), (SELECT count(*) FROM reject r WHERE r.batch = b.id)
            FROM batch b ORDER BY b.id
            """)
        while try batches.step() {
            let id = batches.int(0)
            if batches.optionalInt(1) != batches.optionalInt(7) || batches.optionalInt(2) != batches.optionalInt(8)
                || batches.int(3) != batches.int(6) || batches.int(4) != batches.int(9)
            {
                // Named at the first seq where the batch and its events part: after the last
                // event they share when its end differs (a cut tail), else at its start.
                let seq: Int64? = batches.optionalInt(2) != batches.optionalInt(8)
                    ? min(batches.optionalInt(2) ?? 0, batches.optionalInt(8) ?? 0) + 1
                    : min(batches.optionalInt(1) ?? .max, batches.optionalInt(7) ?? .max)
                problem(seq, "batch \(id)'s seqs or counts (\(batches.optionalInt(1).map(String.init) ?? "none")…\(batches.optionalInt(2).map(String.init) ?? "none"), \(batches.int(3)) added) differ from its events (\(batches.optionalInt(7).map(String.init) ?? "none")…\(batches.optionalInt(8).map(String.init) ?? "none"), \(batches.int(6))) and rejects: the batch or the log was changed")
            }
            let inputs = try InputArchive.inputs(of: id, in: store)
            var hashes: [[UInt8]] = []
            for input in inputs {
                let stored: [UInt8]
                do {
                    stored = try InputArchive.storedHash(of: input.id, in: store)
                } catch {
                    problem(nil, "the stored bytes of input \(input.id) ('\(input.name)', batch \(id)) cannot be read back (\(error)): a chunk was changed")
                    continue
                }
                if stored != input.contentHash {
                    problem(nil, "the stored bytes of input \(input.id) ('\(input.name)', batch \(id)) do not hash to its content hash: a chunk was changed")
                }
                hashes.append(input.contentHash)
            }
            if let recorded = batches.optionalBlob(5), inputs.isEmpty || recorded != Store.contentHash(ofInputs: hashes) {
                problem(nil, "batch \(id)'s content hash is not that of its stored inputs: the batch was changed")
            }
        }
        let rejects = try store.database.prepare("SELECT r.id, r.line, r.text, i.id FROM reject r JOIN input i ON i.batch = r.batch AND i.name = r.source")
        while try rejects.step() {
            let line = (try? InputArchive.line(rejects.int(1), of: rejects.int(3), in: store)) ?? nil
            if line.map({ String(decoding: $0, as: UTF8.self) }) != rejects.string(2) {
                problem(nil, "reject \(rejects.int(0)) does not hold line \(rejects.int(1)) of its stored input: the reject was changed")
            }
        }
    }

    /// The sparse ts index and the disorder list are those the log gives.
    func checkTimeIndexes(problem: Problem) throws {
        var maxTS: Int64?
        var grid: [Int64: Int64] = [:]
        var disorder: [Int64: Int64] = [:]
        let rows = try store.database.prepare("SELECT seq, ts FROM event ORDER BY seq")
        while try rows.step() {
            let seq = rows.int(0)
            if let ts = rows.optionalInt(1) {
                if let current = maxTS, ts < current { disorder[seq] = ts } else { maxTS = ts }
            }
            if seq % ForensicIndexWriter.tsGridStep == 0, let maxTS { grid[seq] = maxTS }
        }
        for (table, expected) in [("ts_grid", grid), ("ts_disorder", disorder)] {
            var stored: [Int64: Int64] = [:]
            let statement = try store.database.prepare("SELECT * FROM \(table)")
            while try statement.step() { stored[statement.int(0)] = statement.int(1) }
            if stored != expected { problem(nil, "\(table) differs from the log's timestamps: it was changed") }
        }
    }

    /// The op table names the ops by the codes this build writes: all of them, or (a store made
    /// by an earlier build, not written since) a prefix naming every code the log uses.
    func checkVocabulary(problem: Problem) throws {
        var stored: [(code: Int64, name: String)] = []
        let rows = try store.database.prepare("SELECT code, name FROM op ORDER BY code")
        while try rows.step() { stored.append((rows.int(0), rows.string(1))) }
        let used = try store.database.scalarInt("SELECT max(op) FROM event")
        if let text = Store.vocabularyProblem(stored: stored, highestUsedCode: used) { problem(nil, text) }
    }
}

/// A Merkle subtree: its level and its index at that level.
struct MerkleKey: Hashable {
    var level: Int
    var index: UInt64
}
