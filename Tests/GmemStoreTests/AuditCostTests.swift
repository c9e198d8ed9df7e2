import Foundation
import Testing

@testable import GmemStore

/// The audit's cost against replay alone, on a generated log. Both read every event from the
/// store and decode it; the replay applies it to the engine, the audit also runs all fifteen
/// rules, keeps its memory, stores the findings and saves its head. By default a 20,000-event
/// log checks that the audit ends in the replay's state; with GMEM_AUDIT_EVENTS=N (run it in
/// release: scripts/measure-audit.sh) it measures N events and requires the audit to cost less
/// than twice the replay.
@Suite struct AuditCostTests {
    @Test func auditCostsLessThanTwiceReplayAlone() throws {
        let environment = ProcessInfo.processInfo.environment
        let measuring = environment["GMEM_AUDIT_EVENTS"].flatMap(Int.init)
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try Store(path: path, access: .readWrite)
        var configuration = LogGenerator.Configuration()
        configuration.events = measuring ?? 20_000
        configuration.seed = 7
        let batch = 100_000
        var generator = LogGenerator(configuration)
        var done = false
        while !done {
            _ = try store.ingest(source: "<generated>", format: "api") { writer in
                for _ in 0..<batch {
                    guard let event = generator.next() else { done = true; break }
                    try writer.append(event)
                }
                return nil
            }
        }
        let head = try store.headLink().seq
        #expect(head == Int64(configuration.events))

        let clock = ContinuousClock()
        var replayed = Engine()
        let replay = try clock.measure {
            try store.database.readTransaction {
                try store.forEachEvent(in: 1...head) { stored in
                    replayed.apply(try stored.decoded())
                    return true
                }
            }
        }
        var summary = AuditSummary()
        let audit = try clock.measure { summary = try store.audit() }
        #expect(summary.audited == head)
        let stateBlob = try #require(try store.database.prepare("SELECT state FROM audit_head").blobIfRow())
        #expect(try AuditCodec.decode(stateBlob).engine == replayed)

        let ratio = audit / replay
        let line = "audit cost: \(head) events, \(summary.added) findings; replay alone \(replay), audit with all 14 rules \(audit), ratio \(String(format: "%.2f", ratio))"
        print(line)
        if let out = environment["GMEM_AUDIT_REPORT"] { try (line + "\n").write(toFile: out, atomically: true, encoding: .utf8) }
        if measuring != nil { #expect(ratio < 2.0, "\(line)") }
    }
}

extension Statement {
    /// The first column of the first row as a blob, or nil when there is no row.
    fileprivate func blobIfRow() throws -> [UInt8]? {
        try step() ? blob(0) : nil
    }
}
