import CSQLite
import Foundation
import Testing
@testable import GmemStore

/// The ingest's fast paths must store exactly what the plain paths store: canonical bytes
/// written into a reused buffer and hashed from there, columns bound straight from the event,
/// and inputs read and decoded ahead on a thread of their own (`PrefetchedSource`).
@Suite struct IngestPipelineTests {
    /// Generated events of every op, with ids, misbehaviour, kernel profiles and conversion
    /// paths, plus events with extra fields, odd text, a digest and a flags list.
    func events() -> [Event] {
        var configuration = LogGenerator.Configuration()
        configuration.events = 2000
        configuration.ids = true
        configuration.misbehaviour = 0.2
        configuration.kernel = .upstream2026
        var events = Array(LogGenerator(configuration))
        for text in ["quote \" and \\ backslash", "line\nbreak\ttab", "é 漢字 🙂"] {
            events.append(Event(
                .zap(.file(gmem: text, offset: 4096, size: 4096), reason: text), ts: -5, id: text, host: "h" + text, actor: text,
                result: text, errorOffset: 4096, note: text, source: EventSource(file: text, line: 7, text: text),
                extra: [JSONMember("zz", .string(text)), JSONMember("aa", .number("1"))]))
            events.append(Event(.gmemCreate(vm: "v", gmem: text, size: 1 << 40, flags: [text, "mmap"], folioSize: 4096), ts: nil))
        }
        events.append(Event(.retract(batch: 3, firstSeq: 5, lastSeq: 9, lastHash: Array(repeating: 0xAB, count: 32), reason: "wrong --vm")))
        events.append(Event(.convert(.guest(vm: "v", gpa: 0x1000, size: 0x1000), to: .shared), via: .vm))
        return events
    }

    @Test func canonicalBytesAreTheCanonicalJSON() {
        var buffer: [UInt8] = [0x55]
        for event in events() {
            buffer.removeAll(keepingCapacity: true)
            event.appendCanonicalJSON(to: &buffer)
            let text = event.canonicalJSON
            #expect(buffer == Array(text.utf8), "\(text)")
            let previous = Merkle.leafHash(body: text)
            #expect(HashChain.link(previous: previous, canonical: buffer) == HashChain.link(previous: previous, body: text))
            #expect(Merkle.leafHash(canonical: buffer) == Merkle.leafHash(body: text))
            let body = CanonicalBody(of: event)
            #expect(body.bytes == buffer && body.leaf == Merkle.leafHash(body: text))
        }
    }

    @Test func boundColumnsAreTheRowValues() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        let columns = EventRow.columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        try store.database.execute("CREATE TEMP TABLE bound(\(columns.joined(separator: ", ")))")
        let insert = try store.database.prepare(
            "INSERT INTO bound(\(EventRow.columns)) VALUES (" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")")
        let read = try store.database.prepare("SELECT \(EventRow.columns) FROM bound")
        let events = events()
        for event in events {
            try store.database.execute("DELETE FROM bound")
            // Bound twice: the second binding overwrites every parameter of the first.
            try EventRow.bindColumns(of: events[0], to: insert, from: 1, names: store.names)
            try EventRow.bindColumns(of: event, to: insert, from: 1, names: store.names)
            try insert.run()
            let values = try EventRow.values(of: event, intern: store.names.id(for:))
            read.reset()
            #expect(try read.step())
            for (index, value) in values.enumerated() {
                #expect(value.isStored(in: read, at: Int32(index)), "column \(columns[index]) of \(event.canonicalJSON)")
            }
            #expect(try EventRow.event(from: read, at: 0, names: store.names) == event)
        }
    }

    /// A generated log of `count` events as JSON Lines, with `bad` lines put in after the
    /// lines whose numbers are given.
    func log(_ count: Int, bad: [Int: String] = [:]) -> String {
        var configuration = LogGenerator.Configuration()
        configuration.events = count
        configuration.ids = true
        configuration.misbehaviour = 0.1
        var lines: [String] = []
        for (index, event) in LogGenerator(configuration).enumerated() {
            lines.append(event.canonicalJSON)
            if let line = bad[index + 1] { lines.append(line) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every row a batch leaves: events, rejects, stored inputs and their chunks.
    func rows(_ store: Store) throws -> [String] {
        var rows: [String] = []
        for query in [
            "SELECT seq, hex(hash), \(EventRow.columns), input, input_line, expected, diverged, returned_early FROM event ORDER BY seq",
            "SELECT source, line, text, reason FROM reject ORDER BY id",
            "SELECT name, size, compression, lines, lf_lines, hex(content_hash) FROM input ORDER BY id",
            "SELECT input, idx, first_line, hex(data) FROM input_chunk ORDER BY input, idx",
            "SELECT gmem, level, pack, first_seq, last_seq, hex(spans) FROM page_pack ORDER BY 1, 2, 3, 4",
            "SELECT level, bin, seq, pfn_lo, pfn_hi FROM frame_event ORDER BY 1, 2, 3, 4",
        ] {
            let statement = try store.database.prepare(query)
            while try statement.step() {
                rows.append((0..<sqlite3_column_count(statement.handle)).map { statement.optionalString($0) ?? "NULL" }.joined(separator: "|"))
            }
        }
        return rows
    }

    /// A file read ahead on its own thread gives the rows the same bytes give when read on the
    /// batch's thread (an input in memory is never read ahead): the same events, hashes,
    /// rejects in the same order, and the same stored chunks (the log spans several).
    @Test func readAheadStoresWhatTheBatchThreadStores() throws {
        let temporary = try TemporaryStore()
        let text = log(4000, bad: [100: "not json", 1800: #"{"op": "map"}"#, 3999: "{"])
        #expect(text.utf8.count > 2 * InputArchive.chunkSize)
        let path = try temporary.file("log.jsonl", text)
        let trace = try temporary.file("t.trace", (0..<4000).map { MergeIngestTests.setSpte("1.\(100_000 + $0)", gfn: "100000") }.joined(separator: "\n") + "\n")
        let setup = try temporary.file("setup.jsonl", MergeIngestTests.setup.joined(separator: "\n") + "\n")
        // As read by `ingest` (a source added, the standard kernel profile named in each
        // vm_create) and by `ingest --verbatim` (events stored as written).
        for (inputs, addsSource) in [([path], true), ([setup, trace, path], true), ([path], false)] {
            let ahead = try TemporaryStore()
            let sources = try inputs.map { try IngestSource(path: $0, format: nil, quarantine: true, addsSource: addsSource) }
            let aheadSummary = try MergeIngest(quarantine: true, addsSource: addsSource).ingest(sources, into: ahead.store)
            let inline = try TemporaryStore()
            let memorySources = try inputs.map {
                IngestSource(
                    reader: LineReader(name: $0, contents: Array(try Data(contentsOf: URL(fileURLWithPath: $0)))), format: nil,
                    quarantine: true, addsSource: addsSource)
            }
            let inlineSummary = try MergeIngest(quarantine: true, addsSource: addsSource).ingest(memorySources, into: inline.store)
            #expect(aheadSummary.batch == inlineSummary.batch)
            #expect(aheadSummary.batch.rejected == 3)
            #expect(try ahead.store.headLink() == inline.store.headLink())
            #expect(try rows(ahead.store) == rows(inline.store))
            for (one, other) in zip(aheadSummary.inputs, inlineSummary.inputs) {
                #expect(one.records == other.records && one.skipped == other.skipped && one.format == other.format)
            }
        }
    }

    /// A line that does not decode, far into a file read ahead, fails the batch naming that
    /// line, and leaves nothing behind.
    @Test func aLineThatDoesNotDecodeFailsTheBatchAtItsLine() throws {
        let temporary = try TemporaryStore()
        let path = try temporary.file("log.jsonl", log(6000, bad: [5000: "{\"op\": \"map\", "]))
        let source = try IngestSource(path: path, format: nil)
        #expect {
            _ = try MergeIngest().ingest([source], into: temporary.store)
        } throws: { error in
            guard case StoreError.decode(_, let line, _) = error else { return false }
            return line == 5001
        }
        #expect(!source.isReadAhead)
        #expect(try temporary.count("event") == 0 && temporary.count("input_chunk") == 0 && temporary.count("batch") == 0)
        #expect(try MergeIngest().ingest([(path: try temporary.file("good.jsonl", log(10)), format: nil)], into: temporary.store).batch.added == 10)
    }

    /// When the batch's thread fails (a `retract` that cannot stand, refused when it is
    /// appended) while the reading thread is blocks ahead, the reading thread is stopped before
    /// the batch rolls back: none outlives its batch, and the store is left as it was.
    @Test func aBatchThatFailsStopsItsReader() throws {
        let temporary = try TemporaryStore()
        let retract = Event(.retract(batch: 99, firstSeq: 1, lastSeq: 2, lastHash: Array(repeating: 0, count: 32), reason: "no such batch"))
        let path = try temporary.file("log.jsonl", log(20_000, bad: [600: retract.canonicalJSON]))
        let source = try IngestSource(path: path, format: nil)
        #expect {
            _ = try MergeIngest().ingest([source], into: temporary.store)
        } throws: { error in
            guard case StoreError.decode(_, let line, _) = error else { return false }
            return line == 601
        }
        #expect(!source.isReadAhead, "the reading thread outlived its batch")
        #expect(source.linesRead < 20_000, "the input was read to its end after the batch failed")
        #expect(try temporary.count("event") == 0 && temporary.count("input") == 0 && temporary.count("input_chunk") == 0)
    }
}
