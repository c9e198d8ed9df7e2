import ArgumentParser
import Foundation
import GmemStore

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Replay the seed scenarios (built into this binary) into fresh stores and show what gmem reconstructs and what the audit finds."
    )

    @Option(help: "Keep the scenario stores in this directory (NN-name.db) instead of a temporary one.")
    var keep: String?

    func run() throws {
        let fileManager = FileManager.default
        let directory = keep ?? (NSTemporaryDirectory() + "gmem-demo-\(ProcessInfo.processInfo.processIdentifier)")
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if keep == nil { try? fileManager.removeItem(atPath: directory) } }
        let scenarios = SeedScenarios.all
        print("gmem demo: \(scenarios.count) scenarios from the guest_memfd conversion thread (LKML, July 2025)\n")
        for scenario in scenarios {
            let base = scenario.name.hasSuffix(".jsonl") ? String(scenario.name.dropLast(6)) : scenario.name
            let path = directory + "/" + base + ".db"
            try? fileManager.removeItem(atPath: path)
            let store = try failing { () throws(StoreError) in try Store(path: path, access: .readWrite) }
            let summary = try failing { try SeedScenarios.ingest(scenario, into: store) }
            print("== \(base)")
            for line in SeedScenarios.story(of: scenario.text) { print("   \(line)") }
            let diverged = try failing { try store.database.scalarInt("SELECT count(*) FROM event WHERE diverged = 1") ?? 0 }
            print("   \(summary.added) events; \(diverged) where the kernel's answer differs from the model's")
            let state = try failing { try store.engine(at: store.headLink().seq).state }
            print(StateReport.text(StateReport.runs(of: state)).split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
            let audit = try failing { try store.audit() }
            let findings = try failing { try store.findings() }.compactMap(Policy().judge)
            print("")
            print(FindingReport.text(findings, from: 1, to: audit.head, suppressed: 0).split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.isEmpty ? "" : "   " + $0 }.joined(separator: "\n"))
            print("")
        }
        if let keep { print("stores kept in \(keep); try: gmem-audit state --db \(keep)/<scenario>.db, gmem-audit explain --db \(keep)/<scenario>.db 1") }
    }
}
