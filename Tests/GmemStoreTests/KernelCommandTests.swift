import Foundation
import Testing
@testable import GmemStore

/// `ingest --kernel`, `state --kernel` and `audit --kernel` (CLI.md), through the executable.
@Suite struct KernelCommandTests {
    @Test func whatIfIsReadOnlyAndSaysSo() throws {
        _ = try requireCLI()
        let temporary = try TemporaryStore()
        let db = temporary.sibling("k.db")
        let log = try temporary.file("k.jsonl", try ScenarioFiles.text("16-failed-removal-upstream-2026", ext: "jsonl")
            .replacingOccurrences(of: #""kernel":"upstream-2026","#, with: ""))
        let ingest = try runCLI(["ingest", "--db", db, "--kernel", "rfc-2025", log])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let stored = try Store(path: db, access: .readOnly(immutable: false))
        #expect(try storedEvents(stored).first.map { try $0.decoded().kernel } == .rfc2025)
        let before = fileBytes(db)

        let state = try runCLI(["state", "--db", db, "--format", "json", "--kernel", "upstream-2026"])
        #expect(state.status == 0)
        #expect(state.stderr.contains("what-if") && state.stderr.contains("upstream-2026"))
        #expect(state.stdout.contains(#""quarantined":false,"kernel":"upstream-2026""#))
        let recorded = try runCLI(["state", "--db", db, "--format", "json"])
        #expect(recorded.stdout.contains(#""kernel":"rfc-2025""#) && !recorded.stdout.contains("upstream-2026"))

        let whatIf = try runCLI(["audit", "--db", db, "--format", "jsonl", "--fail-on", "emergency", "--kernel", "upstream-2026"])
        #expect(whatIf.status == 0, "\(whatIf.stderr)")
        #expect(whatIf.stderr.contains("nothing stored"))
        #expect(whatIf.stdout.contains(#""rule":"GM-R05""#) && whatIf.stdout.contains(#""kernel":"upstream-2026""#))
        #expect(fileBytes(db) == before, "a what-if changes nothing in the store")

        let audit = try runCLI(["audit", "--db", db, "--format", "jsonl", "--fail-on", "emergency"])
        #expect(!audit.stdout.contains(#""rule":"GM-R05""#) && audit.stdout.contains(#""kernel":"rfc-2025""#))
        #expect(try runCLI(["audit", "--db", db, "--kernel", "linux-7"]).status == 64)
    }
}
