import Testing
@testable import GmemStore

/// The default grid's snapshots cost about `Store.snapshotBytesPerEvent` bytes an event of the
/// log, whatever its length: a grid seq gets a snapshot only when the events since the last one
/// pay for its size. A store given its interval gets one at every grid seq.
@Suite struct SnapshotBudgetTests {
    /// The grid snapshots of `store` before `head`: seq and stored size, in order.
    func gridSnapshots(_ store: Store, interval: Int64, head: Int64) throws -> [(seq: Int64, bytes: Int64)] {
        let statement = try store.database.prepare("SELECT seq, length(state) FROM snapshot WHERE seq > 0 AND seq < ? AND seq % ? = 0 ORDER BY seq")
        try statement.bind(1, head)
        try statement.bind(2, interval)
        var found: [(seq: Int64, bytes: Int64)] = []
        while try statement.step() { found.append((statement.int(0), statement.int(1))) }
        return found
    }

    @Test func theDefaultGridKeepsSnapshotsWithinTheirBudget() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        store.snapshotInterval = 16
        store.snapshotBudget = 12
        let lines = generatedLog(events: 3000, seed: 5, gmemSize: 64 << 20).split(separator: "\n")
        // Several batches, so that a batch starts from the grid snapshots of the ones before it
        // (701 events each: no batch ends on the grid, where its end snapshot would stay).
        for (index, start) in stride(from: 0, to: lines.count, by: 701).enumerated() {
            _ = try GmemStoreTests.ingest(lines[start..<min(start + 701, lines.count)].joined(separator: "\n"), name: "part\(index).jsonl", into: store)
        }
        let head = try store.headLink().seq
        let grid = try gridSnapshots(store, interval: 16, head: head)
        #expect(grid.count >= 4, "some grid seqs still get a snapshot")
        #expect(grid.count < Int(head / 16) / 2, "most grid seqs are skipped: a snapshot here is far larger than 16 events × 12 bytes")
        // Each one was paid for by the events since the one before it.
        for (previous, next) in zip(grid, grid.dropFirst()) {
            #expect((next.seq - previous.seq) * 12 >= previous.bytes, "seq \(next.seq) after \(previous.seq) (\(previous.bytes) bytes)")
            #expect((next.seq - 16 - previous.seq) * 12 < previous.bytes, "seq \(next.seq) is the first grid seq due after \(previous.seq)")
        }
        let total = grid.reduce(Int64(0)) { $0 + $1.bytes }
        #expect(total <= 12 * head + (grid.map(\.bytes).max() ?? 0))
        // Fewer snapshots change no answer.
        #expect(try Verifier(store: store).run().passed)
        let fresh = try temporary.open(.readOnly(immutable: false))
        for seq in stride(from: Int64(1), through: head, by: 97) {
            var replayed = Engine()
            try fresh.replay(1...seq, into: &replayed)
            #expect(try fresh.engine(at: seq).state == replayed.state, "seq \(seq)")
        }
    }

    @Test func aStoreGivenItsIntervalGetsASnapshotAtEveryGridSeq() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        #expect(store.snapshotBudget == Store.snapshotBytesPerEvent, "the default grid has a budget")
        try store.recordSnapshotInterval(16)
        #expect(store.snapshotBudget == nil)
        _ = try GmemStoreTests.ingest(generatedLog(events: 1000, seed: 5, gmemSize: 64 << 20), name: "log.jsonl", into: store)
        let head = try store.headLink().seq
        #expect(try gridSnapshots(store, interval: 16, head: head).count == Int((head - 1) / 16))
    }
}
