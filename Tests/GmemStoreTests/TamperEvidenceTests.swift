import Foundation
import Testing
@testable import GmemStore

/// Tampering with the evidence must be caught: a cut tail by `verify --expect-head`, an edited
/// field of any event by `verify`, naming that event's seq.
@Suite struct TamperEvidenceTests {
    /// A store of a generated log (with producer ids, so every column is filled) in several
    /// batches, and the head `verify` printed for it.
    func makeStore(_ temporary: TemporaryStore) throws -> (head: (seq: Int64, hash: [UInt8]), report: VerifyReport) {
        let store = try temporary.open()
        store.snapshotInterval = 500
        let lines = generatedLog(events: 2400, seed: 5, gmemSize: 16 << 20, misbehaviour: 0.1, ids: true).split(separator: "\n")
        for (index, chunk) in stride(from: 0, to: lines.count, by: 800).enumerated() {
            try ingest(lines[chunk..<min(chunk + 800, lines.count)].joined(separator: "\n"), name: "part\(index).jsonl", into: store)
        }
        let report = try Verifier(store: store).run()
        #expect(report.passed, "\(report.problems)")
        return (try store.headLink(), report)
    }

    /// Opens the file as a plain SQLite database, drops the append-only triggers and runs `sql`.
    func tamper(_ path: String, _ sql: String) throws {
        let database = try Database(path: path, access: .readWrite)
        try database.execute("DROP TRIGGER IF EXISTS event_is_append_only_update; DROP TRIGGER IF EXISTS event_is_append_only_delete")
        try database.execute(sql)
        #expect(database.changes > 0, "the tampering changed nothing: \(sql)")
    }

    func verify(_ path: String, expectHead: (seq: Int64, hash: [UInt8])? = nil) throws -> VerifyReport {
        let store = try Store(path: path, access: .readOnly(immutable: false))
        return try store.database.readTransaction { try Verifier(store: store).run(expectHead: expectHead) }
    }

    @Test func deletingTheLastTenEventsIsCaughtByExpectHead() throws {
        let temporary = try TemporaryStore()
        let (head, _) = try makeStore(temporary)
        try tamper(temporary.path, "DELETE FROM event WHERE seq > \(head.seq - 10)")
        let report = try verify(temporary.path, expectHead: head)
        #expect(!report.passed)
        #expect(report.firstBadSeq == head.seq - 9)
        #expect(report.problems.contains { $0.contains("seq \(head.seq - 9): the log ends at seq \(head.seq - 10), before the expected head \(head.seq)") })
        // Without the head kept elsewhere the cut log is self-consistent: only the derived data
        // left behind (the head snapshot, the index) gives it away.
        let alone = try verify(temporary.path)
        #expect(alone.problems.allSatisfy { !$0.contains("expected head") })
    }

    @Test func aRewrittenPrefixIsCaughtByExpectHead() throws {
        let temporary = try TemporaryStore()
        let (head, _) = try makeStore(temporary)
        var wrong = head.hash
        wrong[0] ^= 1
        let report = try verify(temporary.path, expectHead: (head.seq, wrong))
        #expect(report.firstBadSeq == head.seq)
    }

    /// Every column of the event table, edited in turn behind the triggers' back, is caught by
    /// `verify` at that event's seq: the columns that make the canonical body through the hash
    /// chain, the others (an unused column, the verdict, the batch, the input position) by
    /// comparing them with what the event and a replay give them.
    @Test func editingAnyColumnOfTheEventTableIsCaughtWithItsSeq() throws {
        let base = try TemporaryStore()
        _ = try makeStore(base)
        var columns: [(name: String, type: String, seq: Int64)] = []
        do {
            let store = try base.open()
            let info = try store.database.prepare("SELECT name, type FROM pragma_table_info('event') ORDER BY cid")
            while try info.step() {
                // An event from 1000 on that has the column filled, or the 1000th when none has.
                let name = info.string(0)
                let seq = try store.database.scalarInt("SELECT coalesce(min(seq), 1000) FROM event WHERE seq >= 1000 AND \"\(name)\" IS NOT NULL") ?? 1000
                columns.append((name, info.string(1), seq))
            }
        }
        #expect(columns.count >= 30)
        for (index, column) in columns.enumerated() {
            let seq = column.seq
            let edit: String
            switch (column.name, column.type) {
            case ("seq", _): edit = "seq = seq + 1000000"
            case (_, "TEXT"): edit = "\"\(column.name)\" = coalesce(\"\(column.name)\", '') || 'x'"
            case (_, "BLOB"): edit = "\"\(column.name)\" = zeroblob(32)"
            default: edit = "\"\(column.name)\" = coalesce(\"\(column.name)\" + 1, 0)"
            }
            let copy = base.sibling("column\(index).db")
            try FileManager.default.copyItem(atPath: base.path, toPath: copy)
            try tamper(copy, "UPDATE event SET \(edit) WHERE seq = \(seq)")
            let report = try verify(copy)
            #expect(report.firstBadSeq == seq, "\(column.name): \(report.problems.prefix(3))")
        }
    }

    /// The page index is derived data: a flipped byte in a pack (each byte of one pack in turn)
    /// or a dropped pack is reported with the seq of the first event whose span it no longer
    /// holds as a replay resolves it.
    @Test func editingThePageIndexIsCaughtWithItsSeq() throws {
        let base = try TemporaryStore()
        _ = try makeStore(base)
        let (key, blob): (String, [UInt8]) = try {
            let database = try base.open().database
            let row = try database.prepare(
                "SELECT gmem, level, pack, first_seq, spans FROM page_pack WHERE first_seq > 1500 AND length(spans) >= 9 ORDER BY first_seq LIMIT 1")
            #expect(try row.step())
            return ("gmem = \(row.int(0)) AND level = \(row.int(1)) AND pack = \(row.int(2)) AND first_seq = \(row.int(3))", row.blob(4))
        }()
        let database = try base.open().database
        let row = try database.prepare("SELECT level, pack, first_seq FROM page_pack WHERE \(key)")
        #expect(try row.step())
        let (level, pack, first) = (Int(row.int(0)), UInt64(bitPattern: row.int(1)), row.int(2))
        let spans = try PagePack.decode(blob, firstSeq: first, level: level, pack: pack)
        #expect(spans.count >= 3)
        var edits: [(sql: String, firstBad: Int64)] = [("DELETE FROM page_pack WHERE \(key)", first)]
        for index in blob.indices {
            var flipped = blob
            flipped[index] ^= 0x01
            let hex = flipped.map { String(format: "%02X", $0) }.joined()
            let changed = (try? PagePack.decode(flipped, firstSeq: first, level: level, pack: pack)) ?? []
            // The first event whose span the pack no longer holds as it was written.
            let firstBad = spans.first { !changed.contains($0) }?.seq
            edits.append(("UPDATE page_pack SET spans = x'\(hex)' WHERE \(key)", try #require(firstBad, "byte \(index)")))
        }
        for (index, edit) in edits.enumerated() {
            let copy = base.sibling("index\(index).db")
            try FileManager.default.copyItem(atPath: base.path, toPath: copy)
            try tamper(copy, edit.sql)
            let report = try verify(copy)
            #expect(report.firstBadSeq == edit.firstBad, "\(edit.sql): \(report.problems.prefix(3))")
            #expect(report.problems.contains { $0.hasPrefix("seq \(edit.firstBad): the page overlap index") }, "\(edit.sql): \(report.problems.prefix(3))")
        }
    }

    /// Findings, batches, stored inputs, the time indexes, the vocabulary and snapshots are
    /// covered too: an edit to any of them is reported.
    @Test func editingAnyReportedTableIsCaught() throws {
        let base = try TemporaryStore()
        do {
            let store = try base.open()
            store.snapshotInterval = 500
            try ingest(generatedLog(events: 2400, seed: 5, gmemSize: 16 << 20, misbehaviour: 0.1, ids: true), name: "all.jsonl", into: store)
            try store.audit()
            #expect(try Verifier(store: store).run().passed)
        }
        let edits = [
            "UPDATE finding SET severity = 'info' WHERE id = 3",
            "DELETE FROM finding WHERE id = (SELECT max(id) FROM finding)",
            "UPDATE finding SET message = message || '!' WHERE id = 1",
            "UPDATE audit_head SET state = CAST(state || x'00' AS BLOB)",
            "UPDATE batch SET added = added + 1",
            "UPDATE batch SET content_hash = zeroblob(32)",
            "UPDATE input_chunk SET data = CAST(substr(data, 1, 20) || x'00' || substr(data, 22) AS BLOB) WHERE idx = 0",
            "UPDATE ts_grid SET max_ts = max_ts + 1 WHERE seq = 1024",
            "DELETE FROM ts_grid WHERE seq = 2048",
            "UPDATE op SET name = 'forged' WHERE code = 3",
            "UPDATE snapshot SET state = CAST(state || x'00' AS BLOB)",
        ]
        for (index, edit) in edits.enumerated() {
            let copy = base.sibling("table\(index).db")
            try FileManager.default.copyItem(atPath: base.path, toPath: copy)
            do {
                let database = try Database(path: copy, access: .readWrite)
                try database.execute("DROP TRIGGER IF EXISTS input_chunk_is_append_only_update")
                try database.execute(edit)
                if database.changes == 0 { print("CHANGED-NOTHING: \(edit)") }
                #expect(database.changes > 0, "\(edit) changed nothing")
            }
            let report = try verify(copy)
            if report.passed { print("PASSED-VERIFY: \(edit)") }
            #expect(!report.passed, "\(edit) passed verify")
        }
    }

    @Test func theMerkleRootChangesWithAnyEvent() throws {
        let base = try TemporaryStore()
        let (_, report) = try makeStore(base)
        let copy = base.sibling("copy.db")
        try FileManager.default.copyItem(atPath: base.path, toPath: copy)
        try tamper(copy, "UPDATE merkle_node SET hash = zeroblob(32) WHERE level = 10 AND idx = 1")
        let tampered = try verify(copy)
        #expect(tampered.firstBadSeq == 2048)
        #expect(tampered.merkleRoot == report.merkleRoot, "the root is recomputed from the bodies, not read")
    }
}
