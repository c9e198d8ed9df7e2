import Foundation
import Testing

@testable import GmemStore

/// A long replay reads its events on a second thread (`EventReadAhead`): it must hand over
/// exactly what the plain loop reads, stop where the plain loop would throw, and give the
/// connection back before it returns.
@Suite struct EventReadAheadTests {
    /// A store of `events` generated events, ingested in batches of 7,000 (so that batch ends
    /// fall inside hand-over blocks); with `notes`, each event has a note of its own, a string
    /// too long to be held inline (so that an event copied or destroyed once too often is
    /// caught by its count).
    static func generatedStore(events: Int, notes: Bool = false) throws -> TemporaryStore {
        let temporary = try TemporaryStore()
        var configuration = LogGenerator.Configuration()
        configuration.events = events
        configuration.seed = 11
        var generator = LogGenerator(configuration)
        var done = false
        while !done {
            _ = try temporary.store.ingest(source: "<generated>", format: "api") { writer in
                for _ in 0..<7000 {
                    guard var event = generator.next() else { done = true; break }
                    if notes { event.note = "the note of event \(writer.seq + 1), read from its row" }
                    try writer.append(event)
                }
                return nil
            }
        }
        return temporary
    }

    static func read(_ store: Store, _ range: ClosedRange<Int64>, readingAhead: Bool) throws -> [(seq: Int64, event: Event)] {
        var events: [(seq: Int64, event: Event)] = []
        try store.forEachDecodedEvent(in: range, readingAhead: readingAhead) { seq, event in events.append((seq, event)) }
        return events
    }

    @Test func readsExactlyWhatThePlainLoopReads() throws {
        let temporary = try Self.generatedStore(events: 20_000)
        let store = temporary.store
        let head = try store.headLink().seq
        #expect(head == 20_000)
        let block = Int64(EventReadAhead.blockSize)
        // Whole blocks, a partial last block, a range just long enough to be read ahead, and
        // ranges past the head.
        let ranges: [ClosedRange<Int64>] = [
            1...head, 1...(40 * block), 3...(head - 7), 5_000...(5_000 + EventReadAhead.minimumEvents), 11_111...30_000,
        ]
        for range in ranges {
            #expect(range.upperBound - range.lowerBound >= EventReadAhead.minimumEvents)
            let plain = try Self.read(store, range, readingAhead: false)
            let ahead = try Self.read(store, range, readingAhead: true)
            #expect(plain.count == Int(min(range.upperBound, head) - range.lowerBound + 1), "\(range)")
            // The first difference, named (not two arrays of thousands printed).
            let firstDifference = zip(ahead, plain).enumerated().first { $1.0.seq != $1.1.seq || $1.0.event != $1.1.event }?.offset
            #expect(ahead.count == plain.count, "\(range): \(ahead.count) events read ahead, \(plain.count) in turn")
            #expect(firstDifference == nil, "\(range): they differ at seq \(firstDifference.map { plain[$0].seq } ?? 0)")
        }
        // The replay that reads ahead reaches the state of the engine fed the same events in turn.
        var inTurn = Engine()
        for (seq, event) in try Self.read(store, 1...head, readingAhead: false) { inTurn.apply(event, seq: seq) }
        var replayed = Engine()
        try store.replay(1...head, into: &replayed)
        #expect(replayed == inTurn)
    }

    /// The first seq at which two reads differ (in seq or event), or at which one ends first;
    /// nil when they are the same (named, not two arrays of thousands printed).
    static func firstDifference(_ ahead: [(seq: Int64, event: Event)], _ plain: [(seq: Int64, event: Event)]) -> Int64? {
        for (index, (read, expected)) in zip(ahead, plain).enumerated() where read.seq != expected.seq || read.event != expected.event {
            return plain[index].seq
        }
        guard ahead.count != plain.count else { return nil }
        return ahead.count < plain.count ? plain[ahead.count].seq : ahead[plain.count].seq
    }

    /// The caller gives each walked block back for the reading thread to empty and fill again:
    /// a long replay holds a few blocks, not one per 256 events, and hands over exactly what
    /// the plain loop reads, though each block's arrays were filled many times over.
    @Test func fillsTheBlocksTheCallerGivesBackAgain() throws {
        let temporary = try Self.generatedStore(events: 30_000)
        let store = temporary.store
        let plain = try Self.read(store, 1...30_000, readingAhead: false)
        let reader = EventReadAhead(try EventScan(store: store, range: 1...30_000))
        var ahead: [(seq: Int64, event: Event)] = []
        try reader.run { seq, event in ahead.append((seq, event)) }
        #expect(plain.count == 30_000)
        #expect(Self.firstDifference(ahead, plain) == nil, "they differ at seq \(Self.firstDifference(ahead, plain) ?? 0)")
        let handedOver = (30_000 + EventReadAhead.blockSize - 1) / EventReadAhead.blockSize
        #expect(reader.blocksAllocated >= 1)
        #expect(reader.blocksAllocated <= EventReadAhead.maxBlocksAhead + 3, "\(reader.blocksAllocated) blocks allocated for \(handedOver) handed over")
    }

    /// A caller slower than the reading thread (which then waits on a full queue, and is woken
    /// once half of it is taken) and one that is faster (which waits for each block) both get
    /// every event in order.
    @Test(.timeLimit(.minutes(1))) func aSlowAndAFastCallerGetEveryEventInOrder() throws {
        let temporary = try Self.generatedStore(events: 20_000)
        let store = temporary.store
        let plain = try Self.read(store, 1...20_000, readingAhead: false)
        for pause: UInt32 in [0, 2_000] {
            var ahead: [(seq: Int64, event: Event)] = []
            try store.forEachDecodedEvent(in: 1...20_000, readingAhead: true) { seq, event in
                // At each block's first event: the reading thread fills the queue meanwhile.
                if pause > 0, seq % Int64(EventReadAhead.blockSize) == 1 { usleep(pause) }
                ahead.append((seq, event))
            }
            #expect(Self.firstDifference(ahead, plain) == nil, "pause \(pause) µs: they differ at seq \(Self.firstDifference(ahead, plain) ?? 0)")
        }
    }

    /// A body that throws in the middle of a block, after blocks were given back and filled
    /// again, stops the read there, and the event it was lent is back in its block (destroyed
    /// once, with the block); a read started at once after it gives the rest.
    @Test func aBodyThatThrowsInsideAReusedBlockLeavesTheEventsWhole() throws {
        struct Enough: Error {}
        let temporary = try Self.generatedStore(events: 20_000, notes: true)
        let store = temporary.store
        let plain = try Self.read(store, 1...20_000, readingAhead: false)
        var ahead: [(seq: Int64, event: Event)] = []
        let stop: Int64 = 12_345
        #expect(throws: Enough.self) {
            try store.forEachDecodedEvent(in: 1...20_000, readingAhead: true) { seq, event in
                if seq == stop { throw Enough() }
                ahead.append((seq, event))
            }
        }
        #expect(ahead.count == Int(stop - 1))
        try store.forEachDecodedEvent(in: stop...20_000, readingAhead: true) { seq, event in ahead.append((seq, event)) }
        #expect(Self.firstDifference(ahead, plain) == nil, "they differ at seq \(Self.firstDifference(ahead, plain) ?? 0)")
    }

    /// A replay or an audit skips the retracted events (`forEachEffectiveEvent`): read ahead,
    /// it gives the same events as in turn, none of a retracted batch, every other one.
    @Test func aRangeWithRetractedBatchesReadsAheadAsInTurn() throws {
        let temporary = try Self.generatedStore(events: 30_000)
        let store = temporary.store
        // Batches 2 (seqs 7,001…14,000) and 4 (21,001…28,000); the retractions are seqs
        // 30,001 and 30,002.
        _ = try store.retract(batch: 2, reason: "read from the wrong VM's trace")
        _ = try store.retract(batch: 4, reason: "read from the wrong VM's trace")
        func read(readingAhead: Bool) throws -> [(seq: Int64, event: Event)] {
            var events: [(seq: Int64, event: Event)] = []
            try store.forEachEffectiveEvent(in: 2...30_002, readingAhead: readingAhead) { seq, event in events.append((seq, event)) }
            return events
        }
        let plain = try read(readingAhead: false)
        let ahead = try read(readingAhead: true)
        #expect(plain.count == 30_001 - 2 * 7_000)
        #expect(plain.allSatisfy { !(7_001...14_000).contains($0.seq) && !(21_001...28_000).contains($0.seq) })
        #expect(plain.first?.seq == 2 && plain.last?.seq == 30_002)
        #expect(Self.firstDifference(ahead, plain) == nil, "they differ at seq \(Self.firstDifference(ahead, plain) ?? 0)")
    }

    @Test func aMalformedRowThrowsAfterTheEventsBeforeIt() throws {
        let temporary = try Self.generatedStore(events: 12_000)
        let store = temporary.store
        func failure(readingAhead: Bool) -> (seqs: [Int64], message: String) {
            var seqs: [Int64] = []
            do {
                try store.forEachDecodedEvent(in: 1...12_000, readingAhead: readingAhead) { seq, _ in seqs.append(seq) }
                return (seqs, "no error")
            } catch {
                return (seqs, "\(error)")
            }
        }
        // A row after the last whole block of 1024 events (11,264), which is read from its row.
        try store.database.execute("DROP TRIGGER event_is_append_only_update")
        try store.database.execute("UPDATE event SET op = 99 WHERE seq = 11901")
        var plain = failure(readingAhead: false)
        var ahead = failure(readingAhead: true)
        #expect(plain.seqs.count == 11_900 && plain.seqs.last == 11_900)
        #expect(plain.message.contains("unknown op code 99"), "\(plain.message)")
        #expect(ahead.seqs == plain.seqs)
        #expect(ahead.message == plain.message)
        // A pack that does not decode (seqs 9,217…10,240): the events before its block, then its error.
        try store.database.execute("DROP TRIGGER event_pack_is_append_only_update")
        try store.database.execute("UPDATE event_pack SET events = x'00' WHERE block = \(9_216 / EventPack.eventsPerBlock)")
        plain = failure(readingAhead: false)
        ahead = failure(readingAhead: true)
        #expect(plain.seqs.count == 9_216 && plain.seqs.last == 9_216)
        #expect(plain.message.contains("the event pack of seqs 9217…10240 does not decode"), "\(plain.message)")
        #expect(ahead.seqs == plain.seqs)
        #expect(ahead.message == plain.message)
        // The connection is the caller's again.
        #expect(try store.headLink().seq == 12_000)
    }

    @Test func aBodyThatThrowsStopsTheReadingThread() throws {
        struct Enough: Error {}
        let temporary = try Self.generatedStore(events: 30_000)
        let store = temporary.store
        for stop in [1, 300, 29_999] as [Int64] {
            var last: Int64 = 0
            #expect(throws: Enough.self) {
                try store.forEachDecodedEvent(in: 1...30_000, readingAhead: true) { seq, _ in
                    if seq == stop { throw Enough() }
                    last = seq
                }
            }
            #expect(last == stop - 1)
            // The reading thread has ended: the store reads and writes on this thread at once.
            #expect(try store.headLink().seq == 30_000 + (stop == 1 ? 0 : stop == 300 ? 1 : 2))
            _ = try store.ingest(source: "<after \(stop)>", format: "api") { writer in
                try writer.append(Event(.vmCreate(vm: "after-\(stop)", type: "tdx", tdxConnect: false)))
                return nil
            }
        }
    }
}
