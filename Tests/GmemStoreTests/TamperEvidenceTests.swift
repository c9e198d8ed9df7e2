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

    @Test func editingAnyColumnOfAnyEventIsCaughtWithItsSeq() throws {
        let base = try TemporaryStore()
        _ = try makeStore(base)
        let edits: [(String, Int64)] = [
            ("ts = ts + 1", 1203),
            ("op = 'forged_op'", 1500),
            ("host = 'elsewhere'", 77),
            ("producer_id = 'forged'", 2000),
            ("body = replace(body, '\"actor\":\"', '\"actor\":\"x')", 999),
            ("hash = zeroblob(32)", 1717),
            ("expected = 'EPERM'", 1100),
            ("expected_error_offset = 4097", 1300),
            ("diverged = 1 - diverged", 640),
            ("batch = batch + 1", 12),
        ]
        for (index, edit) in edits.enumerated() {
            let copy = base.sibling("copy\(index).db")
            try FileManager.default.copyItem(atPath: base.path, toPath: copy)
            try tamper(copy, "UPDATE event SET \(edit.0) WHERE seq = \(edit.1)")
            let report = try verify(copy)
            #expect(report.firstBadSeq == edit.1, "\(edit.0): \(report.problems.prefix(3))")
        }
    }

    /// The page index is derived data, but a history trusts its forms: an edited form, span
    /// end or a dropped row is reported with the event's seq.
    @Test func editingThePageIndexIsCaughtWithItsSeq() throws {
        let base = try TemporaryStore()
        _ = try makeStore(base)
        let seq = try base.open().database.scalarInt("SELECT min(seq) FROM page_event WHERE seq > 1500 AND form IS NOT NULL") ?? 0
        let edits = [
            "UPDATE page_event SET form = CAST(substr(form, 1, length(form) - 1) || x'ff' AS BLOB) WHERE seq = \(seq)",
            "UPDATE page_event SET form = CAST(form || x'00' AS BLOB) WHERE seq = \(seq)",
            "UPDATE page_event SET page_hi = page_hi + 1 WHERE seq = \(seq)",
            "DELETE FROM page_event WHERE seq = \(seq)",
        ]
        for (index, edit) in edits.enumerated() {
            let copy = base.sibling("index\(index).db")
            try FileManager.default.copyItem(atPath: base.path, toPath: copy)
            try tamper(copy, edit)
            let report = try verify(copy)
            #expect(report.firstBadSeq == seq, "\(edit): \(report.problems.prefix(3))")
            #expect(report.problems.contains { $0.hasPrefix("seq \(seq): the page overlap index") }, "\(edit): \(report.problems.prefix(3))")
        }
    }

    @Test func editingAnyFieldOfAnEventBodyIsCaughtWithItsSeq() throws {
        let base = try TemporaryStore()
        _ = try makeStore(base)
        let seq: Int64 = 1234
        let store = try Store(path: base.path, access: .readOnly(immutable: false))
        var body = ""
        try store.forEachEvent(in: seq...seq) { body = $0.body; return false }
        guard case .object(let members) = try JSONParser.parse(body) else {
            Issue.record("body is not an object")
            return
        }
        for (index, member) in members.enumerated() {
            var changed = members
            switch member.value {
            case .string(let text): changed[index].value = .string(text + "x")
            case .number(let text): changed[index].value = .number(String((UInt64(text) ?? 0) + 4096))
            case .bool(let flag): changed[index].value = .bool(!flag)
            default: changed[index].value = .null
            }
            let copy = base.sibling("field\(index).db")
            try FileManager.default.copyItem(atPath: base.path, toPath: copy)
            let forged = JSONWriter.string(.object(changed)).replacingOccurrences(of: "'", with: "''")
            try tamper(copy, "UPDATE event SET body = '\(forged)' WHERE seq = \(seq)")
            let report = try verify(copy)
            #expect(report.firstBadSeq == seq, "field \(member.key): \(report.problems.prefix(3))")
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
