import PropertyBased
import Testing

@testable import GmemStore

/// Event packs (schema 5, `EventPack`): a replay reads whole blocks of events from their
/// pack, and must see exactly what the rows hold; `verify` must catch a pack that says anything
/// else; a store written before schema 5 reads from its rows and gets its packs from the next
/// writer; a block begun by one batch (or process) is finished by the next.
@Suite struct EventPackTests {
    /// Events per block.
    static let B = EventPack.eventsPerBlock
    var B: Int64 { Self.B }

    /// Every event of `range`, read from the rows alone (the path of a store without packs).
    static func rowEvents(_ store: Store, _ range: ClosedRange<Int64>) throws -> [(Int64, Event)] {
        let rows = try store.database.prepare("SELECT seq, \(EventRow.columns) FROM event WHERE seq BETWEEN ? AND ? ORDER BY seq")
        try rows.bind(1, range.lowerBound)
        try rows.bind(2, range.upperBound)
        var names = NameLookup(store.names)
        var events: [(Int64, Event)] = []
        while let event = try Store.decodedEvent(rows, names: &names) { events.append(event) }
        return events
    }

    /// Every event of `range` as a replay reads it (packs where there are).
    static func replayedEvents(_ store: Store, _ range: ClosedRange<Int64>, readingAhead: Bool = false) throws -> [(Int64, Event)] {
        var events: [(Int64, Event)] = []
        try store.forEachDecodedEvent(in: range, readingAhead: readingAhead) { events.append(($0, $1)) }
        return events
    }

    /// The seq of the first event the two lists differ at; nil when they are the same.
    static func firstDifference(_ a: [(Int64, Event)], _ b: [(Int64, Event)]) -> Int64? {
        for (x, y) in zip(a, b) where x.0 != y.0 || x.1 != y.1 { return x.0 }
        return a.count == b.count ? nil : (a.count < b.count ? b[a.count].0 : a[b.count].0)
    }

    /// Random events of every op but `retract` (whose seqs the store checks), with random
    /// field values, text columns included, appended in batches of `sizes`.
    static func randomStore(seed: UInt64, sizes: [Int]) throws -> TemporaryStore {
        let temporary = try TemporaryStore()
        let values = VocabularyRoundTripTests.Values(state: seed)
        let kinds = Operation.Kind.allCases.filter { $0 != .retract }
        for size in sizes {
            _ = try temporary.store.ingest(source: "<random>", format: "api") { writer in
                for _ in 0..<size {
                    var event = values.event(kinds[Int(values.below(UInt64(kinds.count)))])
                    // Most events carry no text column, as in a real log: their pack entry holds them whole.
                    if values.below(4) != 0 {
                        event.id = nil
                        event.note = nil
                        event.extra = []
                        event.source?.text = nil
                    }
                    try writer.append(event)
                    // Now and then an address or size off a page boundary, which a pack keeps
                    // as it is rather than in pages.
                    if values.below(16) == 0 {
                        let odd = values.below(0xFFF) + 1
                        try writer.append(Event(.map(.file(gmem: "g\(values.below(3))", offset: odd << values.below(20), size: 0x1000 + odd))))
                        try writer.append(Event(.accept(.guest(vm: "vm\(values.below(3))", gpa: 0x7000 + odd, size: 0x2000))))
                    }
                }
                return nil
            }
        }
        return temporary
    }

    @Test("random events of every op replay from their packs as from their rows, whatever the range", .shrinking(false))
    func packsGiveWhatRowsHold() async throws {
        await propertyCheck(count: 6, input: Gen.uint64()) { seed in
            do {
                let temporary = try Self.randomStore(seed: seed, sizes: [300, 1, 255, 1500, 2, 700])
                let store = temporary.store
                let head = try store.headLink().seq
                let packs = try store.database.scalarInt("SELECT count(*) FROM event_pack") ?? 0
                #expect(head > 2 * EventPack.eventsPerBlock && packs == head / EventPack.eventsPerBlock, "seed \(seed): \(packs) packs for \(head) events")
                let entriesWithText = try store.database.scalarInt(
                    "SELECT count(*) FROM event WHERE coalesce(producer_id, note, src_text, extras, digest) IS NOT NULL") ?? 0
                #expect(entriesWithText > 0 && entriesWithText < head)
                for range in [1...head, 2...head, 200...700, 1023...1026, 511...2049, 1...1023, 100...(head + 50), 0...Int64.max, (head - 3)...Int64.max] {
                    let rows = try Self.rowEvents(store, range)
                    let replayed = try Self.replayedEvents(store, range)
                    #expect(Self.firstDifference(rows, replayed) == nil, "seed \(seed), \(range)")
                }
                // Every pack agrees with its rows, and the rest of verify has nothing to say of
                // random values either (it once did: two files of one name, negative first ts).
                let problems = try Verifier(store: store).run().problems
                #expect(problems.isEmpty, "seed \(seed): \(problems.prefix(3))")
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
    }

    @Test("a block begun by one batch, or one process, is packed by the next, as one batch packs it")
    func blocksAreFinishedAcrossBatchesAndOpens() throws {
        let block = Int(EventPack.eventsPerBlock)
        var configuration = LogGenerator.Configuration()
        configuration.events = 2 * block + 300
        configuration.seed = 5
        let events = Array(LogGenerator(configuration))
        let whole = try TemporaryStore()
        try whole.store.append(contentsOf: events)

        let pieces = try TemporaryStore()
        try pieces.store.append(contentsOf: events[..<(block / 2)])
        // A batch that fails after finishing a block leaves no pack, and the next batch packs
        // the block from where the log stands.
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            _ = try pieces.store.ingest(source: "<api>", format: "api") { writer in
                for event in events[(block / 2)..<(block + 100)] { try writer.append(event) }
                throw Stop()
            }
        }
        #expect(try pieces.store.database.scalarInt("SELECT count(*) FROM event_pack") == 0)
        try pieces.store.append(contentsOf: events[(block / 2)..<(block + 100)])
        #expect(try pieces.store.database.scalarInt("SELECT count(*) FROM event_pack") == 1)
        // A new process: the block the head is in is read back from its rows.
        let reopened = try pieces.open(.readWrite)
        for event in events[(block + 100)..<(block + 160)] { try reopened.append(event) }
        try reopened.append(contentsOf: events[(block + 160)...])

        func packs(_ store: Store) throws -> [[UInt8]] {
            let rows = try store.database.prepare("SELECT events FROM event_pack ORDER BY block")
            var blobs: [[UInt8]] = []
            while try rows.step() { blobs.append(rows.blob(0)) }
            return blobs
        }
        #expect(try packs(whole.store).count == 2)
        #expect(try packs(reopened) == packs(whole.store))
        #expect(try Verifier(store: reopened).run().passed)
    }

    /// A store of four whole blocks of generated events and 100 more, its packs open to change.
    static func tamperable() throws -> TemporaryStore {
        let temporary = try TemporaryStore()
        try ingest(generatedLog(events: Int(4 * EventPack.eventsPerBlock) + 100, seed: 9), name: "log.jsonl", into: temporary.store)
        try temporary.store.database.execute(
            "DROP TRIGGER event_pack_is_append_only_update; DROP TRIGGER event_pack_is_append_only_delete")
        return temporary
    }

    static func problems(_ store: Store) throws -> [String] { try Verifier(store: store).run().problems }

    @Test("verify names the seq a changed pack differs at, and a replay reads the pack")
    func aChangedPackIsCaught() throws {
        let temporary = try Self.tamperable()
        let store = temporary.store
        let before = try Self.replayedEvents(store, 1...(4 * B + 100))
        // Block 1 (seqs B + 1…2B) packed again with the size of the first event from B + 88 on doubled.
        let rows = try store.database.prepare("SELECT seq, \(EventRow.columns) FROM event WHERE seq BETWEEN ? AND ? ORDER BY seq")
        try rows.bind(1, B + 1)
        try rows.bind(2, 2 * B)
        var builder = EventPack.Builder(next: B + 1)
        var content: [UInt8]?
        var changedSeq: Int64 = 0
        while try rows.step() {
            var entry = EventPack.Entry(row: rows, at: 1)
            if rows.int(0) >= B + 88, changedSeq == 0, let size = entry.int(7), !entry.hasText {
                entry.set(7, size * 2)
                changedSeq = rows.int(0)
            }
            content = builder.add(entry, seq: rows.int(0))?.content ?? content
        }
        let update = try store.database.prepare("UPDATE event_pack SET events = ? WHERE block = 1")
        try update.bind(1, ZstdFrame.compress(try #require(content), level: EventPack.level))
        try update.run()

        #expect(try Self.problems(store) == ["seq \(changedSeq): the event pack of seqs \(B + 1)…\(2 * B) differs from the event's columns: it was changed"])
        // Replays read the pack: the changed size is what they see (which is why verify checks it).
        let after = try Self.replayedEvents(store, 1...(4 * B + 100))
        #expect(Self.firstDifference(before, after) == changedSeq)
    }

    @Test("a deleted pack is named by verify and the replay reads the rows; an added or undecodable pack is named too")
    func deletedAddedAndUndecodablePacks() throws {
        let temporary = try Self.tamperable()
        let store = temporary.store
        let before = try Self.replayedEvents(store, 1...(4 * B + 100))
        try store.database.execute("DELETE FROM event_pack WHERE block = 1")
        #expect(try Self.problems(store) == [
            "seq \(B + 1): the event pack of seqs \(B + 1)…\(2 * B) is missing: it was deleted",
            "event_pack holds 3 packs, the log has 4 whole blocks of \(B) events: a pack was added or deleted",
        ])
        #expect(Self.firstDifference(before, try Self.replayedEvents(store, 1...(4 * B + 100))) == nil)

        try store.database.execute("INSERT INTO event_pack SELECT 1, events FROM event_pack WHERE block = 0")
        try store.database.execute("INSERT INTO event_pack SELECT 9, events FROM event_pack WHERE block = 0")
        #expect(try Self.problems(store) == [
            "seq \(B + 1): the event pack of seqs \(B + 1)…\(2 * B) differs from the event's columns: it was changed",
            "event_pack holds 5 packs, the log has 4 whole blocks of \(B) events: a pack was added or deleted",
        ])

        try store.database.execute("UPDATE event_pack SET events = x'28b52ffd0000' WHERE block = 3")
        #expect(try Self.problems(store).contains("seq \(3 * B + 1): the event pack of seqs \(3 * B + 1)…\(4 * B) does not decode: it was changed"))
        #expect {
            _ = try Self.replayedEvents(store, 1...(4 * B + 100))
        } throws: { error in
            "\(error)".contains("event_pack") && "\(error)".contains("the event pack of seqs \(3 * B + 1)…\(4 * B) does not decode: run verify")
        }
    }

    @Test("a store from before schema 5 is read from its rows, and its next writer packs what it holds")
    func aSchemaFourStoreIsPackedByItsNextWriter() throws {
        let temporary = try TemporaryStore()
        let first = Int(2 * B) + 100
        let lines = generatedLog(events: first + Int(B), seed: 17).split(separator: "\n")
        try ingest(lines[..<first].joined(separator: "\n"), name: "a.jsonl", into: temporary.store)
        let events = try Self.rowEvents(temporary.store, 1...Int64(first))
        try temporary.store.database.execute("DROP TABLE event_pack; PRAGMA user_version = 4; PRAGMA wal_checkpoint(TRUNCATE)")

        let reader = try temporary.open(.readOnly(immutable: false))
        #expect(!reader.hasEventPacks)
        #expect(Self.firstDifference(events, try Self.replayedEvents(reader, 1...Int64(first), readingAhead: true)) == nil)
        #expect(try Verifier(store: reader).run().passed)

        let writer = try temporary.open(.readWrite)
        #expect(try writer.database.scalarInt("PRAGMA user_version") == Migrator.latestVersion)
        #expect(try writer.database.scalarInt("SELECT count(*) FROM event_pack") == 2)
        try ingest(lines[first...].joined(separator: "\n"), name: "b.jsonl", into: writer)
        #expect(try writer.database.scalarInt("SELECT count(*) FROM event_pack") == 3)
        #expect(try Verifier(store: writer).run().passed)
        #expect(Self.firstDifference(try Self.rowEvents(writer, 1...(3 * B + 100)), try Self.replayedEvents(writer, 1...(3 * B + 100))) == nil)
    }
}
