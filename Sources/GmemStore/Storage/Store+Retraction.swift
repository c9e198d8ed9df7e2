/// A `retract` event as the log holds it: batch `batch` (seqs `seqs`, the last of them with
/// chain hash `lastHash`) was read wrongly, for `reason`; recorded at `seq`.
public struct Retraction: Equatable, Sendable {
    /// The seq of the `retract` event itself.
    public var seq: Int64
    /// The batch as numbered in the store where it was retracted.
    public var batch: Int64
    /// The retracted events.
    public var seqs: ClosedRange<Int64>
    public var lastHash: [UInt8]
    public var reason: String
}

/// The retractions of a log, and so the events every replay skips: a retracted event stays in
/// the log (hashed, exported, shown by `history`) but changes no state and raises no finding.
public struct RetractedEvents: Sendable {
    /// Ordered by the retracted seqs (which never overlap).
    public private(set) var retractions: [Retraction] = []

    public init(_ retractions: [Retraction] = []) {
        self.retractions = retractions.sorted { $0.seqs.lowerBound < $1.seqs.lowerBound }
    }

    public var isEmpty: Bool { retractions.isEmpty }

    /// The retraction that retracted event `seq`, if one did.
    /// - Complexity: O(log r) in the number of retractions.
    public func retraction(of seq: Int64) -> Retraction? {
        var low = 0
        var high = retractions.count
        while low < high {
            let middle = (low + high) / 2
            if retractions[middle].seqs.upperBound < seq { low = middle + 1 } else { high = middle }
        }
        return low < retractions.count && retractions[low].seqs.contains(seq) ? retractions[low] : nil
    }

    /// True when event `seq` is retracted.
    public func contains(_ seq: Int64) -> Bool { retraction(of: seq) != nil }

    /// The retractions recorded at or before `seq`: what the log said when event `seq` was
    /// appended (the verdict columns and the page index were written under them).
    func recorded(atOrBefore seq: Int64) -> RetractedEvents {
        RetractedEvents(retractions.filter { $0.seq <= seq })
    }
}

/// Why a retraction was refused. Nothing was written.
public struct RetractionError: Error, CustomStringConvertible {
    public enum Kind: Sendable {
        /// No such batch, or seqs past the log.
        case unknown
        /// The batch or the seqs cannot be retracted (already retracted, a retraction, nothing added, hash differs).
        case refused
    }

    public var kind: Kind
    public var description: String
}

/// What `Store.retract` did.
public struct RetractSummary: Sendable {
    public var retraction: Retraction
    /// The batch that holds the `retract` event.
    public var batch: Int64
    /// True when stored findings covered the retracted events and were dropped: the next
    /// `audit` makes them again without those events.
    public var droppedFindings: Bool
    /// The snapshots taken after the first retracted event that were dropped.
    public var droppedSnapshots: Int
}

extension Store {
    /// The retractions in the log (through the `event_retraction` index: a seek, not a scan).
    public func retractedEvents() throws -> RetractedEvents {
        let code = EventRow.opCodes["retract"]!
        let statement = try database.cached("SELECT seq, count, offset, size, digest, label FROM event WHERE op = \(code) ORDER BY seq")
        defer { statement.reset() }
        var found: [Retraction] = []
        while try statement.step() {
            let seq = statement.int(0)
            guard let reason = statement.optionalInt(5).flatMap(names.text) else {
                throw StoreError.decode(file: "event", line: UInt64(seq), message: "the stored retraction names no reason")
            }
            found.append(Retraction(
                seq: seq, batch: statement.int(1), seqs: statement.int(2)...max(statement.int(2), statement.int(3)),
                lastHash: statement.blob(4), reason: reason))
        }
        return RetractedEvents(found)
    }

    /// Calls `body` with each event with `seq` in `range` that no retraction in the log
    /// retracted, in order: the replay loop of everything that judges the log (state, audit,
    /// report, explain).
    public func forEachEffectiveEvent(in range: ClosedRange<Int64>, _ body: (Int64, Event) throws -> Void) throws {
        try forEachEffectiveEvent(in: range, readingAhead: false, body)
    }

    /// `forEachEffectiveEvent`, with a long range read on a second thread when `readingAhead`
    /// is set (`EventReadAhead`): then `body` must not use this store.
    func forEachEffectiveEvent(in range: ClosedRange<Int64>, readingAhead: Bool, _ body: (Int64, Event) throws -> Void) throws {
        let retracted = try retractedEvents()
        if retracted.isEmpty { return try forEachDecodedEvent(in: range, readingAhead: readingAhead, body) }
        try forEachDecodedEvent(in: range, readingAhead: readingAhead) { seq, event in
            if !retracted.contains(seq) { try body(seq, event) }
        }
    }

    /// The engine after event `seq`, replayed from the first event without the events
    /// `skipping` retracts (no snapshot: snapshots hold the log as it now stands).
    func engine(through seq: Int64, skipping: RetractedEvents) throws -> Engine {
        var engine = Engine()
        guard seq >= 1 else { return engine }
        try forEachDecodedEvent(in: 1...seq, readingAhead: true) { seq, event in
            if !skipping.contains(seq) { engine.apply(event, seq: seq) }
        }
        return engine
    }

    /// Refuses a retraction that cannot stand in this log at seq `at`: seqs past the log, a
    /// last hash that is not the log's there, a range that holds a retraction, or events that
    /// an earlier retraction retracted already.
    func check(_ op: Operation, at seq: Int64) throws {
        guard case .retract(let batch, let first, let last, let lastHash, _) = op else { return }
        guard last < UInt64(seq) else {
            throw RetractionError(kind: .unknown, description: "retract names seqs \(first)…\(last), but the log before it ends at seq \(seq - 1)")
        }
        let hash = try database.cached("SELECT hash FROM event WHERE seq = ?")
        defer { hash.reset() }
        try hash.bind(1, Int64(last))
        guard try hash.step(), hash.blob(0) == lastHash else {
            throw RetractionError(kind: .refused, description: "retract of batch \(batch) names seq \(last) with hash \(HashChain.hex(lastHash)), which is not this log's: it was made on another log")
        }
        let code = EventRow.opCodes["retract"]!
        let inside = try database.cached("SELECT seq FROM event WHERE op = \(code) AND seq BETWEEN ? AND ? LIMIT 1")
        defer { inside.reset() }
        try inside.bind(1, Int64(first))
        try inside.bind(2, Int64(last))
        if try inside.step() {
            throw RetractionError(kind: .refused, description: "seqs \(first)…\(last) hold the retraction at seq \(inside.int(0)): a retraction is not retracted (its evidence stays; ingest the batch again if it was right)")
        }
        for earlier in try retractedEvents().retractions where earlier.seqs.overlaps(Int64(first)...Int64(last)) {
            throw RetractionError(kind: .refused, description: "seqs \(earlier.seqs.lowerBound)…\(earlier.seqs.upperBound) (batch \(earlier.batch)) were already retracted at seq \(earlier.seq): \(earlier.reason)")
        }
    }

    /// After the retraction `retraction` was appended inside a batch: drops what was computed
    /// with the retracted events (snapshots and closed-file versions from the first retracted
    /// seq on; the stored findings, when the audit had reached it), writes the grid snapshots
    /// from the first retracted seq to `seq` again as the log now stands, and returns the
    /// engine there, every retracted event skipped.
    func applyRetraction(_ retraction: Retraction, at seq: Int64) throws -> (engine: Engine, droppedFindings: Bool, droppedSnapshots: Int) {
        let first = retraction.seqs.lowerBound
        let snapshots = try database.cached("DELETE FROM snapshot WHERE seq >= ?")
        try snapshots.bind(1, first)
        try snapshots.run()
        let droppedSnapshots = Int(database.changes)
        let closed = try database.cached("DELETE FROM closed_file WHERE seq >= ?")
        try closed.bind(1, first)
        try closed.run()
        var droppedFindings = false
        if try auditedSeq() >= first {
            try database.execute("DELETE FROM finding; DELETE FROM audit_head")
            droppedFindings = true
        }
        return (try rewriteSnapshotGrid(from: first, to: seq), droppedFindings, droppedSnapshots)
    }

    /// Replays the log as it now stands from the snapshot before seq `first` to seq `last` and
    /// writes a snapshot at each grid seq in `first..<last` that is due (`isGridSnapshotDue`;
    /// the batch writes the one at `last`), so that `state --at` a point after an early retraction starts from a nearby
    /// snapshot again. A grid seq inside a retracted range gets the state after the last event
    /// before it that counts. Closed files' versions from `first` on were dropped, so the
    /// first snapshot written stores every closed file again. Returns the engine at `last`.
    private func rewriteSnapshotGrid(from first: Int64, to last: Int64) throws -> Engine {
        let start = try snapshot(atOrBefore: first - 1)
        var engine = Engine(state: start.state)
        guard start.seq < last else { return engine }
        let retracted = try retractedEvents()
        var changedClosedFiles = Set(engine.state.files.indices.filter { !engine.state.files[$0].isOpen })
        var lastGrid = try lastGridSnapshot(before: first)
        try forEachDecodedEvent(in: (start.seq + 1)...last) { at, event in
            if !retracted.contains(at) {
                let verdict = engine.apply(event, seq: at)
                for piece in verdict.pieces where !engine.state.files[piece.file].isOpen { changedClosedFiles.insert(piece.file) }
            }
            if snapshotInterval > 0, at >= first, at < last, at % snapshotInterval == 0, isGridSnapshotDue(at: at, after: lastGrid) {
                lastGrid = (at, try writeSnapshot(seq: at, state: engine.state, changedClosedFiles: &changedClosedFiles))
            }
        }
        return engine
    }

    /// Retracts batch `batch`: appends, in a batch of its own, a `retract` event that names the
    /// batch's seqs and the hash of its last event, with `reason`. From then on every replay
    /// skips the batch's events; they stay in the log as evidence (`history` shows them,
    /// marked). Refused for a batch that does not exist, added nothing, holds a retraction, or
    /// was retracted already.
    public func retract(batch: Int64, reason: String, ts: Int64? = nil) throws -> RetractSummary {
        guard reason.contains(where: { !$0.isWhitespace }) else {
            throw RetractionError(kind: .refused, description: "a retraction needs a reason (--reason): say what was read wrongly")
        }
        let row = try database.cached("SELECT first_seq, last_seq, added, format FROM batch WHERE id = ?")
        defer { row.reset() }
        try row.bind(1, batch)
        guard try row.step() else {
            let last = try database.scalarInt("SELECT max(id) FROM batch") ?? 0
            throw RetractionError(kind: .unknown, description: "no batch \(batch) in this store" + (last == 0 ? " (it has none)" : " (its batches are 1…\(last))"))
        }
        guard let first = row.optionalInt(0), let last = row.optionalInt(1), row.int(2) > 0 else {
            throw RetractionError(kind: .refused, description: "batch \(batch) added no events: there is nothing to retract, and it does not block a corrected ingest")
        }
        row.reset()
        guard let lastHash = try storedEvent(last)?.hash else {
            throw RetractionError(kind: .unknown, description: "batch \(batch)'s last event, seq \(last), is not in the log: run `gmem-audit verify`")
        }
        let op = Operation.retract(batch: UInt64(batch), firstSeq: UInt64(first), lastSeq: UInt64(last), lastHash: lastHash, reason: reason)
        var dropped = (findings: false, snapshots: 0)
        var retraction: Retraction?
        let summary = try ingest(source: "<retract>", format: "retract", readAs: "retract batch=\(batch)") { writer in
            // Its source names the command, as an ingested event names its file and line, so
            // that an export re-ingested like any other file keeps its body and hash.
            try writer.append(Event(op, ts: ts, source: EventSource(file: "<retract>", line: 1)))
            dropped = (writer.retractionDroppedFindings, writer.retractionDroppedSnapshots)
            retraction = Retraction(seq: writer.seq, batch: batch, seqs: first...last, lastHash: lastHash, reason: reason)
            return nil
        }
        return RetractSummary(
            retraction: retraction!, batch: summary.batch ?? 0, droppedFindings: dropped.findings, droppedSnapshots: dropped.snapshots)
    }
}
