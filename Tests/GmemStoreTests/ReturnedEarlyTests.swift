import Foundation
import Testing
@testable import GmemStore

/// Schema 3: each conversion's "returned early" verdict is stored (`returned_early`) and a
/// page's history applies it instead of widening to the conversion's whole range.
@Suite struct ReturnedEarlyTests {
    /// Under upstream-2026: pages 0–1 of g go shared, 200 conversions of page 0 to shared
    /// return early, then a conversion of pages 0–3 to private is mixed (it goes through and
    /// unmaps pages 2–3, already private), and one of pages 2–3 returns early. Page 2's own
    /// events say nothing of pages 0–1: a sparse replay of page 2 alone would take seq 207 for
    /// an early return.
    static var log: String {
        var lines = [
            #"{"op":"vm_create","vm":"td","kernel":"upstream-2026"}"#,
            #"{"op":"gmem_create","vm":"td","gmem":"g","size":262144}"#,
            #"{"op":"bind","vm":"td","gmem":"g","slot":1,"gpa":0,"size":262144,"offset":0}"#,
            #"{"op":"map","vm":"td","gpa":0,"size":262144}"#,
            #"{"op":"accept","vm":"td","gpa":0,"size":262144}"#,
            #"{"op":"convert","gmem":"g","offset":0,"size":8192,"to":"shared"}"#,
        ]
        lines += Array(repeating: #"{"op":"convert","gmem":"g","offset":0,"size":4096,"to":"shared"}"#, count: 200)
        lines += [
            #"{"op":"convert","gmem":"g","offset":0,"size":16384,"to":"private"}"#,
            #"{"op":"convert","gmem":"g","offset":8192,"size":8192,"to":"private"}"#,
            #"{"op":"accept","vm":"td","gpa":8192,"size":4096}"#,
        ]
        return lines.joined(separator: "\n")
    }

    static let page2 = History.Subject.file(gmem: "g", offset: 8192, size: 4096)

    /// The history of page 2 read from a fresh read-only open, and the event rows it read.
    func history(_ path: String) throws -> (entries: [HistoryEntry], eventsRead: Int) {
        let store = try Store(path: path, access: .readOnly(immutable: false))
        let entries = try History(store: store).entries(for: Self.page2)
        return (entries, store.eventRowsRead)
    }

    func tamper(_ path: String, _ sql: String) throws {
        let database = try Database(path: path, access: .readWrite)
        try database.execute("DROP TRIGGER IF EXISTS event_is_append_only_update")
        try database.execute(sql)
    }

    @Test func theVerdictIsStoredAndHistoryAppliesItWithoutReadingTheRange() throws {
        let temporary = try TemporaryStore()
        try ingest(Self.log, name: "early.jsonl", into: temporary.store)
        let early = try temporary.store.database.prepare("SELECT seq, returned_early FROM event WHERE returned_early IS NOT NULL ORDER BY seq")
        var stored: [Int64: Int64] = [:]
        while try early.step() { stored[early.int(0)] = early.int(1) }
        #expect(stored.count == 203, "every conversion, and only they")
        #expect(stored[6] == 0 && stored[7] == 1 && stored[206] == 1 && stored[207] == 0 && stored[208] == 1)
        #expect(try Verifier(store: temporary.store).run().passed)
        try temporary.store.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        // Equal to the full replay, reading page 2's own events and the structure only.
        try PageHistoryTests().check(temporary.store, gmem: "g", pages: 2..<3)
        let applied = try history(temporary.path)
        #expect(applied.entries.map(\.seq) == [3, 4, 5, 207, 208, 209])
        #expect(applied.eventsRead <= 16, "history read \(applied.eventsRead) event rows")
        let after207 = try #require(applied.entries.first { $0.seq == 207 }?.after.first)
        #expect(!after207.page.mapped && !after207.page.accepted, "the mixed conversion unmapped page 2")

        // Rows without the verdict (a store written before schema 3): the widening answers
        // the same, reading every event of pages 0–3.
        let old = temporary.sibling("unrecorded.db")
        try FileManager.default.copyItem(atPath: temporary.path, toPath: old)
        try tamper(old, "UPDATE event SET returned_early = NULL; UPDATE setting SET value = '1000' WHERE key = 'returned_early_from'")
        let widened = try history(old)
        #expect(widened.entries.map(\.seq) == applied.entries.map(\.seq))
        #expect(widened.entries.map(\.after) == applied.entries.map(\.after))
        #expect(widened.entries.map(\.before) == applied.entries.map(\.before))
        #expect(widened.eventsRead > 200, "the widening read \(widened.eventsRead) event rows")
        #expect(try Verifier(store: Store(path: old, access: .readOnly(immutable: false))).run().passed)

        // The stored verdict is what history applies: a forged one changes its answer, and
        // verify names the row.
        let forged = temporary.sibling("forged.db")
        try FileManager.default.copyItem(atPath: temporary.path, toPath: forged)
        try tamper(forged, "UPDATE event SET returned_early = 1 WHERE seq = 207")
        let wrong = try history(forged)
        #expect(wrong.entries.first { $0.seq == 207 }?.after.first?.page.mapped == true)
        let report = try Verifier(store: Store(path: forged, access: .readOnly(immutable: false))).run()
        #expect(report.firstBadSeq == 207)
        #expect(report.problems.first?.contains("column returned_early (1) differs from a replay (0)") == true, "\(report.problems)")
    }

    /// A NULL where schema 3 wrote a verdict, or a verdict on an op that has none, is caught.
    @Test func verifyCatchesAMissingOrStrayVerdict() throws {
        let temporary = try TemporaryStore()
        try ingest(Self.log, name: "early.jsonl", into: temporary.store)
        try temporary.store.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for (index, (edit, seq)) in [("returned_early = NULL WHERE seq = 208", 208), ("returned_early = 0 WHERE seq = 209", 209)].enumerated() {
            let copy = temporary.sibling("edit\(index).db")
            try FileManager.default.copyItem(atPath: temporary.path, toPath: copy)
            try tamper(copy, "UPDATE event SET \(edit)")
            let report = try Verifier(store: Store(path: copy, access: .readOnly(immutable: false))).run()
            #expect(report.firstBadSeq == Int64(seq), "\(edit): \(report.problems)")
        }
    }

    /// Random conversions of random ranges of one small file, both ways, among maps, accepts,
    /// TD and device pins and releases, under upstream-2026: many conversions return early or
    /// not depending on pages a single page's history does not follow. Every page's history
    /// equals the full replay's answer.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomReconversionsHistoriesEqualAFullReplay(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        var lines = [
            #"{"op":"vm_create","vm":"td","kernel":"upstream-2026","tdx_connect":true}"#,
            #"{"op":"gmem_create","vm":"td","gmem":"g","size":65536}"#,
            #"{"op":"bind","vm":"td","gmem":"g","slot":1,"gpa":0,"size":65536,"offset":0}"#,
        ]
        for _ in 0..<300 {
            let first = random.next() % 16
            let count = 1 + random.next() % (16 - first)
            let range = "\"offset\":\(first * 4096),\"size\":\(count * 4096)"
            let guest = "\"vm\":\"td\",\"gpa\":\(first * 4096),\"size\":\(count * 4096)"
            switch random.next() % 8 {
            case 0, 1, 2: lines.append(#"{"op":"convert","gmem":"g",\#(range),"to":"\#(random.next() % 2 == 0 ? "private" : "shared")"}"#)
            case 3: lines.append(#"{"op":"map",\#(guest)}"#)
            case 4: lines.append(#"{"op":"accept",\#(guest)}"#)
            case 5: lines.append(#"{"op":"pin",\#(guest),"holder":"\#(random.next() % 3 == 0 ? "iommu" : "td")"}"#)
            case 6: lines.append(#"{"op":"release",\#(guest),"holder":"td"}"#)
            default: lines.append(#"{"op":"zap","gmem":"g",\#(range)}"#)
            }
        }
        let temporary = try TemporaryStore()
        try ingest(lines.joined(separator: "\n"), name: "random.jsonl", into: temporary.store)
        let early = try temporary.store.database.scalarInt("SELECT count(*) FROM event WHERE returned_early = 1") ?? 0
        let through = try temporary.store.database.scalarInt("SELECT count(*) FROM event WHERE returned_early = 0") ?? 0
        #expect(early >= 10 && through >= 10, "\(early) early returns, \(through) conversions that went through")
        #expect(try Verifier(store: temporary.store).run().passed)
        for page in 0..<16 as Range<UInt64> {
            try PageHistoryTests().check(temporary.store, gmem: "g", pages: page..<(page + 1))
        }
        try PageHistoryTests().check(temporary.store, gmem: "g", pages: 3..<9)
    }

    /// Generated logs judged by upstream-2026, with much misbehaviour: every history asked
    /// equals the full replay's answer.
    @Test(arguments: [21, 22] as [UInt64])
    func upstreamHistoriesEqualAFullReplay(seed: UInt64) throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        store.snapshotInterval = 50
        try ingest(
            generatedLog(events: 3000, seed: seed, gmemSize: 8 << 20, misbehaviour: 0.3, kernel: .upstream2026), name: "gen.jsonl", into: store)
        var random = SeededGenerator(seed: seed)
        for _ in 0..<12 {
            let gmem = "g\(1 + random.next() % 5)"
            let lo = random.next() % 2048
            try PageHistoryTests().check(store, gmem: gmem, pages: lo..<(lo + 1 + random.next() % 3))
        }
    }
}

/// A schema-2 store (one `page_event` row per span, no `returned_early`) is migrated by the
/// next writing open: its spans become packs, and every answer stays.
@Suite struct SchemaThreeMigrationTests {
    /// Turns a schema-3 store back into the schema-2 layout it would have had.
    func downgrade(_ path: String) throws {
        let database = try Database(path: path, access: .readWrite)
        let text = Embedded.migrations[0].text
        let table = try #require(text.range(of: "CREATE TABLE page_event (")).lowerBound
        let view = try #require(text.range(of: "CREATE VIEW page_event_view")).lowerBound
        try database.execute(String(text[table...].prefix(while: { $0 != ";" })) + ";")
        try database.execute(String(text[view...].prefix(while: { $0 != ";" })) + ";")
        let rows = try database.prepare("SELECT gmem, level, pack, first_seq, spans FROM page_pack")
        let insert = try database.prepare("INSERT INTO page_event(gmem, level, bin, seq, page_lo, page_hi) VALUES (?,?,?,?,?,?)")
        while try rows.step() {
            let level = Int(rows.int(1))
            for span in try PagePack.decode(rows.blob(4), firstSeq: rows.int(3), level: level, pack: UInt64(bitPattern: rows.int(2))) {
                try insert.bind(1, rows.int(0))
                try insert.bind(2, Int64(level))
                try insert.bind(3, Int64(span.pages.lowerBound >> UInt64(level)))
                try insert.bind(4, span.seq)
                try insert.bind(5, Int64(span.pages.lowerBound))
                try insert.bind(6, Int64(span.pages.upperBound))
                try insert.run()
            }
        }
        try database.execute("""
            DROP TABLE event_pack; DROP VIEW page_pack_view; DROP TABLE page_pack; ALTER TABLE event DROP COLUMN returned_early;
            DELETE FROM setting WHERE key = 'returned_early_from'; PRAGMA user_version = 2
            """)
    }

    @Test func aSchemaTwoStoreIsPackedByTheNextWriterAndAnswersTheSame() throws {
        let temporary = try TemporaryStore()
        let lines = generatedLog(events: 3000, seed: 31, gmemSize: 8 << 20, misbehaviour: 0.3, kernel: .upstream2026).split(separator: "\n")
        try ingest(lines[..<2000].joined(separator: "\n"), name: "a.jsonl", into: temporary.store)
        try temporary.store.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        let spans = try packedSpans(temporary.store).map { "\($0.gmem) \($0.span.seq) \($0.span.pages)" }.sorted()
        let old = temporary.sibling("schema2.db")
        try FileManager.default.copyItem(atPath: temporary.path, toPath: old)
        try downgrade(old)

        // Read-only, the old layout is refused with the command that migrates it.
        #expect {
            try Store(path: old, access: .readOnly(immutable: false))
        } throws: { error in
            "\(error)".contains("gmem-audit audit --db \(old)")
        }
        // The next writer migrates it: the same spans, packed; the conversions before it have
        // no verdict (history widens for them), those after it have one.
        let store = try Store(path: old, access: .readWrite)
        #expect(try store.database.scalarInt("PRAGMA user_version") == Migrator.latestVersion)
        #expect(try store.database.scalarInt("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'page_event%'") == 0)
        #expect(try packedSpans(store).map { "\($0.gmem) \($0.span.seq) \($0.span.pages)" }.sorted() == spans)
        #expect(try store.returnedEarlyFrom() == 2001)
        #expect(try store.database.scalarInt("SELECT count(*) FROM event WHERE returned_early IS NOT NULL") == 0)
        #expect(try Verifier(store: store).run().passed)
        try ingest(lines[2000...].joined(separator: "\n"), name: "b.jsonl", into: store)
        #expect(try store.database.scalarInt("SELECT count(*) FROM event WHERE returned_early IS NOT NULL AND seq <= 2000") == 0)
        #expect(try (store.database.scalarInt("SELECT count(*) FROM event WHERE returned_early IS NOT NULL") ?? 0) > 0)
        let report = try Verifier(store: store).run()
        #expect(report.passed, "\(report.problems.prefix(3))")
        var random = SeededGenerator(seed: 31)
        for _ in 0..<12 {
            let gmem = "g\(1 + random.next() % 5)"
            let lo = random.next() % 2048
            try PageHistoryTests().check(store, gmem: gmem, pages: lo..<(lo + 1 + random.next() % 3))
        }
    }
}
