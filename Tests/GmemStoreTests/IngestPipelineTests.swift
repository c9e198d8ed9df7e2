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
        for event in events() {
            try store.database.execute("DELETE FROM bound")
            // Bound twice: the second binding overwrites every parameter of the first.
            try EventRow.bindColumns(of: events()[0], to: insert, from: 1, names: store.names)
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
}
