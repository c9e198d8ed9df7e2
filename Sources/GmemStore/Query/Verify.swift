import CSQLite

/// What `verify` found.
public struct VerifyReport: Sendable {
    /// The number of events checked.
    public var events: Int64 = 0
    public var snapshotsChecked = 0
    /// The head as `SEQ:HASH`.
    public var head = "0:" + HashChain.hex(HashChain.genesis)
    /// Problems found, the first bad seq first.
    public var problems: [String] = []
    /// The first event that failed a check.
    public var firstBadSeq: Int64?

    public var passed: Bool { problems.isEmpty }
}

/// Checks a store: SQLite's integrity, the hash chain, that seqs are gap-free, that every
/// verdict and every snapshot equals a fresh replay, and optionally that the log still holds a
/// head the user kept elsewhere.
public struct Verifier {
    public let store: Store

    public init(store: Store) {
        self.store = store
    }

    public func run(expectHead: (seq: Int64, hash: [UInt8])? = nil) throws -> VerifyReport {
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
        var snapshots: [Int64: [UInt8]] = [:]
        let snapshotRows = try store.database.prepare("SELECT seq, state FROM snapshot")
        while try snapshotRows.step() { snapshots[snapshotRows.int(0)] = snapshotRows.blob(1) }

        var engine = Engine()
        var previous = HashChain.genesis
        var expectedSeq: Int64 = 1
        var expectedHeadFound = expectHead == nil
        let head = try store.headLink()
        try store.forEachEvent(in: 1...max(head.seq, 1)) { stored in
            report.events += 1
            if stored.seq != expectedSeq {
                problem(stored.seq, "seq \(expectedSeq) is missing: the log has a gap")
            }
            expectedSeq = stored.seq + 1
            let hash = HashChain.link(previous: previous, body: stored.body)
            if hash != stored.hash {
                problem(stored.seq, "hash does not match its body and the previous hash: the event was changed")
            }
            previous = stored.hash
            if let expectHead, expectHead.seq == stored.seq {
                expectedHeadFound = true
                if stored.hash != expectHead.hash {
                    problem(stored.seq, "hash \(HashChain.hex(stored.hash)) is not the expected head \(HashChain.hex(expectHead.hash))")
                }
            }
            let event: Event
            do {
                event = try stored.decoded()
            } catch {
                problem(stored.seq, "\(error)")
                return true
            }
            if event.canonicalJSON != stored.body {
                problem(stored.seq, "body is not in canonical form")
            }
            let verdict = engine.apply(event)
            if verdict.expected != stored.expected
                || verdict.expectedErrorOffset.map({ Int64(bitPattern: $0) }) != stored.expectedErrorOffset
                || verdict.diverged != stored.diverged
            {
                problem(stored.seq, "stored verdict (\(stored.expected ?? "none")) differs from a replay (\(verdict.expected ?? "none"))")
            }
            if let snapshot = snapshots[stored.seq] {
                report.snapshotsChecked += 1
                if StateCodec.encode(engine.state) != snapshot {
                    problem(stored.seq, "stored snapshot differs from a replay")
                }
            }
            return true
        }
        for seq in snapshots.keys where seq > head.seq || seq < 1 {
            problem(nil, "snapshot at seq \(seq) has no event")
        }
        if let expectHead, !expectedHeadFound {
            problem(head.seq, "the log ends at seq \(head.seq), before the expected head \(expectHead.seq): events were removed")
        }
        report.head = "\(head.seq):\(HashChain.hex(head.hash))"
        return report
    }
}
