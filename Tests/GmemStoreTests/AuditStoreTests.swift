import Foundation
import Testing

@testable import GmemStore

/// Findings are stored with the log: auditing again changes nothing, a grown log is audited
/// only where it grew, and the result equals one audit of the whole log.
@Suite struct AuditStoreTests {
    static func scenario(_ prefix: String) throws -> String {
        let name = try #require(try ScenarioFiles.names().first { $0.hasPrefix(prefix) })
        return try ScenarioFiles.text(name, ext: "jsonl")
    }

    @Test func auditingAnUnchangedLogAgainKeepsTheSameFindingsAndIds() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try Store(path: path, access: .readWrite)
        try ingest(try Self.scenario("02-"), into: store)
        let first = try store.audit()
        #expect(first.audited == 10 && first.added == 8 && first.head == 10)
        let findings = try store.findings()
        #expect(findings.map(\.id) == (1...8).map { Int64($0) })
        let second = try store.audit()
        #expect(second.audited == 0 && second.added == 0)
        #expect(try store.findings() == findings)
        // A second connection (another process) sees the same.
        let reader = try Store(path: path, access: .readOnly(immutable: false))
        #expect(try reader.findings() == findings)
        #expect(try reader.auditedSeq() == 10)
    }

    @Test func aGrownLogIsAuditedFromTheStoredHead() throws {
        let lines = try Self.scenario("03-").split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        let whole = temporaryStorePath("whole")
        let grown = temporaryStorePath("grown")
        defer { removeStore(whole); removeStore(grown) }
        let oneShot = try Store(path: whole, access: .readWrite)
        try ingest(lines.joined(separator: "\n"), into: oneShot)
        try oneShot.audit()

        let store = try Store(path: grown, access: .readWrite)
        try ingest(lines[0..<9].joined(separator: "\n"), into: store, name: "part1.jsonl")
        let first = try store.audit()
        #expect(first.audited == 9)
        try ingest(lines[9...].joined(separator: "\n"), into: store, name: "part2.jsonl")
        // Small chunks: the audit head is saved and reloaded several times on the way.
        let second = try store.audit(chunk: 3)
        #expect(second.audited == Int64(lines.count - 9))
        #expect(second.restartReason == nil)
        #expect(try store.findings() == oneShot.findings())
        #expect(try store.findings().contains { $0.rule == "GM-R14" && $0.related == [8, 10] })
    }

    /// A misbehaving generated log audited in chunks of 97 events (each chunk continues with
    /// the auditor the one before ended with) stores the findings and the audit state of one
    /// audit in a single chunk.
    @Test func aChunkedAuditEqualsOneChunk() throws {
        var configuration = LogGenerator.Configuration()
        configuration.events = 3_000
        configuration.seed = 41
        configuration.misbehaviour = 0.1
        let text = LogGenerator(configuration).map(\.canonicalJSON).joined(separator: "\n")
        let whole = temporaryStorePath("whole")
        let chunked = temporaryStorePath("chunked")
        defer { removeStore(whole); removeStore(chunked) }
        let oneShot = try Store(path: whole, access: .readWrite)
        try ingest(text, into: oneShot)
        #expect(try oneShot.audit(chunk: 1_000_000).audited == 3_000)
        let store = try Store(path: chunked, access: .readWrite)
        try ingest(text, into: store)
        var chunks = 0
        let summary = try store.audit(chunk: 97) { _, _ in chunks += 1 }
        #expect(summary.audited == 3_000 && chunks == 31)
        let findings = try store.findings()
        #expect(findings.count > 20)
        #expect(findings == (try oneShot.findings()))
        #expect(try store.auditHead()?.state == (try oneShot.auditHead()?.state))
    }

    @Test func theStoredAuditStateRoundTrips() throws {
        var auditor = Auditor()
        for (index, line) in try Self.scenario("03-").split(separator: "\n").filter({ !$0.hasPrefix("#") }).enumerated() {
            _ = auditor.audit(try Event(jsonLine: String(line)), seq: Int64(index + 1))
        }
        let bytes = AuditCodec.encode(auditor)
        let decoded = try AuditCodec.decode(bytes)
        #expect(decoded.engine == auditor.engine)
        #expect(decoded.memory == auditor.memory)
        #expect(AuditCodec.encode(decoded) == bytes)
        #expect(throws: StateCodec.DecodingError.self) { try AuditCodec.decode(Array(bytes.dropLast())) }
    }

    @Test func findingsAreLinkedToTheirEvents() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try Store(path: path, access: .readWrite)
        try ingest(try Self.scenario("12-"), into: store)
        try store.audit()
        let orphans = try store.database.scalarInt("SELECT count(*) FROM finding WHERE seq NOT IN (SELECT seq FROM event)")
        #expect(orphans == 0)
        #expect(try store.database.scalarInt("SELECT count(*) FROM finding") == 3)
        // Storing findings never touches the evidence.
        #expect(throws: SQLiteError.self) { try store.database.execute("DELETE FROM event WHERE seq = 1") }
    }

    @Test func explainGivesTheChainOldestFirstWithTheStateOfThePages() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try Store(path: path, access: .readWrite)
        try ingest(try Self.scenario("02-"), into: store)
        try store.audit()
        let retry = try #require(try store.findings().first { $0.rule == "GM-R03" && $0.seq == 9 })
        let reader = try Store(path: path, access: .readOnly(immutable: false))
        let retryID = try #require(retry.id)
        let explanation = try #require(try Explainer(store: reader).explain(id: retryID))
        #expect(explanation.steps.map(\.seq) == [6, 8, 9])
        #expect(explanation.steps.map(\.role) == [.related, .related, .trigger])
        // The accept pinned the page; the failed convert quarantined it; the retried zap changed nothing.
        let accept = explanation.steps[0]
        #expect(accept.before.map(\.page.accepted) == [false])
        #expect(accept.after.map(\.page.pins.td) == [1])
        #expect(explanation.steps[1].after.map(\.page.quarantined) == [true])
        #expect(explanation.steps[2].before == explanation.steps[2].after)
        #expect(explanation.steps.allSatisfy { $0.before.first?.offset == 0x10000 && $0.before.first?.size == 0x1000 })
        let text = ExplainFormat.text(explanation)
        #expect(text.hasPrefix("finding \(retry.id!): GM-R03 futile-retry (warning) at seq 9"))
        #expect(text.contains("seq 8 [related]"))
        #expect(try Explainer(store: reader).explain(id: 999) == nil)
    }
}
