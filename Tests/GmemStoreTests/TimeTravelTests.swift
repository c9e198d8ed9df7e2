import Testing
@testable import GmemStore

/// `state --at` answers from the nearest snapshot (closed files stored apart) plus the events
/// after it, and maps a time to the last event with ts at or before it, whatever the order of
/// the ts values and with events that carry none.
@Suite struct TimeTravelTests {
    @Test func stateAtAnySeqEqualsAFullReplay() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        store.snapshotInterval = 97
        let lines = generatedLog(events: 2500, seed: 31, gmemSize: 8 << 20, misbehaviour: 0.2).split(separator: "\n")
        for (index, start) in stride(from: 0, to: lines.count, by: 600).enumerated() {
            try ingest(lines[start..<min(start + 600, lines.count)].joined(separator: "\n"), name: "p\(index).jsonl", into: store)
        }
        #expect(try store.database.scalarInt("SELECT count(*) FROM closed_file") ?? 0 > 0, "the log closes files")
        let events = try storedEvents(store).map { try $0.decoded() }
        var engine = Engine()
        var probes: Set<Int64> = [0, 1, 96, 97, 98, 600, 601, 1200, 2499, 2500]
        var random = SeededGenerator(seed: 2)
        for _ in 0..<25 { probes.insert(Int64(random.next() % 2501)) }
        var seq: Int64 = 0
        for probe in probes.sorted() {
            while seq < probe {
                engine.apply(events[Int(seq)])
                seq += 1
            }
            #expect(try store.engine(at: probe).state == engine.state, "full state at \(probe)")
            #expect(StateReport.runs(of: try store.engine(at: probe, closedFilePages: false).state) == StateReport.runs(of: engine.state), "open files at \(probe)")
        }
        let report = try Verifier(store: store).run()
        #expect(report.passed, "\(report.problems)")
        #expect(report.snapshotsChecked > 20)
    }

    @Test func aSnapshotWithoutClosedFilePagesIsSmaller() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        try ingest(generatedLog(events: 4000, seed: 6, gmemSize: 64 << 20, misbehaviour: 0.3), name: "gen.jsonl", into: store)
        let state = try store.engine(at: store.headLink().seq).state
        #expect(state.files.contains { !$0.isOpen })
        #expect(StateCodec.encode(SnapshotFormat.withoutClosedFilePages(state)).count < StateCodec.encode(state).count)
    }

    @Test("snapshots are stored as zstd frames, smaller than their state's bytes; an uncompressed one still reads")
    func snapshotsAreCompressed() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        store.snapshotInterval = 500
        try ingest(generatedLog(events: 3000, seed: 8, gmemSize: 64 << 20, misbehaviour: 0.2), name: "gen.jsonl", into: store)
        let rows = try store.database.prepare("SELECT seq, state FROM snapshot ORDER BY seq")
        var blobs: [(Int64, [UInt8])] = []
        while try rows.step() { blobs.append((rows.int(0), rows.blob(1))) }
        #expect(blobs.count >= 6)
        for (seq, blob) in blobs {
            #expect(Array(blob.prefix(4)) == SnapshotFormat.zstdMagic, "snapshot \(seq)")
            let state = try store.engine(at: seq).state
            let plain = StateCodec.encode(SnapshotFormat.withoutClosedFilePages(state))
            #expect(try SnapshotFormat.unpack(blob) == plain)
            #expect(blob.count < plain.count, "snapshot \(seq): \(blob.count) bytes against \(plain.count)")
        }
        // A snapshot written before compression holds the StateCodec bytes themselves.
        let (seq, blob) = blobs[blobs.count / 2]
        let plain = try SnapshotFormat.unpack(blob)
        let expected = try store.engine(at: seq).state
        let update = try store.database.prepare("UPDATE snapshot SET state = ? WHERE seq = ?")
        try update.bind(1, plain)
        try update.bind(2, seq)
        try update.run()
        #expect(try store.engine(at: seq).state == expected)
        let report = try Verifier(store: store).run()
        #expect(report.passed, "\(report.problems)")
    }

    @Test func timeMapsToTheLastEventAtOrBeforeIt() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        // ts out of order (a merged trace), equal, and missing.
        let stamps: [Int64?] = [100, 200, nil, 150, 300, 300, nil, 250, 400, 50, nil, 500]
        var lines: [String] = [#"{"op":"vm_create","vm":"a"}"#]
        for (index, ts) in stamps.enumerated() {
            var event = Event(.mce(pfn: UInt64(index)))
            event.ts = ts
            lines.append(event.canonicalJSON)
        }
        try ingest(lines[0...5].joined(separator: "\n"), name: "one.jsonl", into: store)
        try ingest(lines[6...].joined(separator: "\n"), name: "two.jsonl", into: store)
        let all: [Int64?] = [nil] + stamps
        for time in [0, 49, 50, 99, 100, 149, 150, 199, 200, 249, 250, 299, 300, 399, 400, 499, 500, 10_000] as [Int64] {
            let brute = all.enumerated().filter { $0.element.map { $0 <= time } ?? false }.map { Int64($0.offset + 1) }.max() ?? 0
            #expect(try store.seq(atTime: time) == brute, "time \(time)")
        }
        #expect(try store.database.scalarInt("SELECT count(*) FROM ts_disorder") == 3)
    }

    @Test func theSnapshotIntervalIsKeptInTheStore() throws {
        let temporary = try TemporaryStore()
        var store: Store? = try temporary.open()
        #expect(try store!.recordedSnapshotInterval() == nil)
        try store!.recordSnapshotInterval(1234)
        store = nil
        store = try temporary.open()
        #expect(try store!.recordedSnapshotInterval() == 1234)
    }
}
