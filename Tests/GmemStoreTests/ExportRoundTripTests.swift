import Testing
@testable import GmemStore

/// `export --format jsonl` into an empty store gives the same events, hashes, verdicts and
/// state. Findings derive from the events and verdicts; once the audit stores them, the lead
/// compares them here too (see docs/FORENSICS.md).
@Suite struct ExportRoundTripTests {
    func exported(_ store: Store, _ format: ExportFormat, seqs: ClosedRange<Int64>? = nil) throws -> String {
        var text = ""
        let head = try store.headLink().seq
        try Exporter(store: store).write(format, seqs: seqs ?? 1...max(head, 1), to: &text)
        return text
    }

    func expectSameLog(_ original: Store, _ copy: Store) throws {
        let a = try storedEvents(original)
        let b = try storedEvents(copy)
        #expect(a.count == b.count)
        for (x, y) in zip(a, b) {
            #expect(x.seq == y.seq && x.body == y.body && x.hash == y.hash, "seq \(x.seq)")
            #expect(x.expected == y.expected && x.expectedErrorOffset == y.expectedErrorOffset && x.diverged == y.diverged, "verdict of seq \(x.seq)")
        }
        #expect(try original.headLink() == copy.headLink())
        let stateA = try original.engine(at: original.headLink().seq).state
        let stateB = try copy.engine(at: copy.headLink().seq).state
        #expect(stateA == stateB)
        #expect(StateReport.runs(of: stateA) == StateReport.runs(of: stateB))
        // The same findings, with the same ids.
        if !original.isReadOnly && !copy.isReadOnly {
            try original.audit()
            try copy.audit()
            #expect(try original.findings() == copy.findings())
        }
    }

    @Test func everySeedScenarioRoundTrips() throws {
        for scenario in SeedScenarios.all {
            let first = try TemporaryStore()
            let original = try first.open()
            _ = try SeedScenarios.ingest(scenario, into: original)
            let text = try exported(original, .jsonl)
            let second = try TemporaryStore()
            let copy = try second.open()
            try ingest(text, name: "export.jsonl", into: copy)
            try expectSameLog(original, copy)
        }
    }

    @Test func allSeedScenariosInOneStoreRoundTrip() throws {
        let first = try TemporaryStore()
        let original = try first.open()
        for scenario in SeedScenarios.all { _ = try SeedScenarios.ingest(scenario, into: original) }
        let second = try TemporaryStore()
        let copy = try second.open()
        try ingest(try exported(original, .jsonl), name: "export.jsonl", into: copy)
        try expectSameLog(original, copy)
        #expect(try Verifier(store: copy).run().merkleRoot == Verifier(store: original).run().merkleRoot)
    }

    @Test func aRandomLogInSeveralBatchesRoundTrips() throws {
        let first = try TemporaryStore()
        let original = try first.open()
        original.snapshotInterval = 300
        let lines = generatedLog(events: 3000, seed: 21, misbehaviour: 0.2, ids: true).split(separator: "\n")
        for (index, start) in stride(from: 0, to: lines.count, by: 1000).enumerated() {
            try ingest(lines[start..<min(start + 1000, lines.count)].joined(separator: "\n"), name: "gen\(index).jsonl", into: original)
        }
        let second = try TemporaryStore()
        let copy = try second.open()
        try ingest(try exported(original, .jsonl), name: "export.jsonl", into: copy)
        try expectSameLog(original, copy)
    }

    @Test func eventsWithoutSourceRoundTripVerbatim() throws {
        let first = try TemporaryStore()
        let original = try first.open()
        var configuration = LogGenerator.Configuration()
        configuration.events = 500
        configuration.gmemSize = 8 << 20
        try original.append(contentsOf: Array(LogGenerator(configuration)))
        let text = try exported(original, .jsonl)
        let second = try TemporaryStore()
        let copy = try second.open()
        try ingest(text, name: "export.jsonl", into: copy, addsSource: false)
        try expectSameLog(original, copy)
        // A plain ingest names the export as the events' source: same state, new hashes.
        let third = try TemporaryStore()
        let sourced = try third.open()
        try ingest(text, name: "export.jsonl", into: sourced)
        #expect(try sourced.headLink().hash != original.headLink().hash)
        #expect(try sourced.engine(at: sourced.headLink().seq).state == original.engine(at: original.headLink().seq).state)
    }

    @Test func csvHasOneRowPerEventWithItsFields() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        for scenario in SeedScenarios.all { _ = try SeedScenarios.ingest(scenario, into: store) }
        let csv = try exported(store, .csv)
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.first == Substring(Exporter.csvColumns.joined(separator: ",")))
        #expect(Int64(lines.count - 1) == (try store.headLink().seq))
        let events = try storedEvents(store)
        let row = lines[5].split(separator: ",", omittingEmptySubsequences: false)
        let event = try events[4].decoded()
        #expect(row[0] == "5")
        #expect(row[3] == Substring(event.op.name))
        #expect(lines[5].hasSuffix("," + HashChain.hex(events[4].hash)))
        // A part of the log: seqs 10…20.
        #expect(try exported(store, .jsonl, seqs: 10...20).split(separator: "\n").count == 11)
    }
}
