import Foundation
import Testing
@testable import GmemStore

/// Messages a user can act on (issue 12 item 16): `--version`, "did you mean", `--immutable`
/// only where it means something, no empty store after a failed first ingest, a busy timeout
/// the README states, and a verdict mismatch that names what differs.
@Suite struct CLIMessageTests {
    static let readingCommands = ["state", "history", "verify", "export", "explain", "report"]
    static let writingCommands = ["ingest", "audit", "demo", "generate"]

    @Test("--version prints the tool version, the store schema and the rule catalog's revision")
    func version() throws {
        let result = try runCLI(["--version"])
        #expect(result.status == 0)
        let line = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(line == GmemVersion.description)
        #expect(line.hasPrefix("gmem-audit \(GmemVersion.tool) "))
        #expect(line.contains("store schema \(Migrator.latestVersion)"))
        #expect(line.contains("rule catalog revision \(RuleCatalog.revision)"))
        #expect(line.contains("GM-R01…GM-R15"))
    }

    @Test("a mistyped command is answered with the nearest one, on stderr, exit 64")
    func didYouMean() throws {
        let cases = [("stat", "state"), ("injest", "ingest"), ("verfiy", "verify"), ("histroy", "history"), ("exlpain", "explain"), ("Audit", "audit"), ("hist", "history")]
        for (typed, meant) in cases {
            let result = try runCLI([typed, "--db", "/nonexistent/gmem.db"])
            #expect(result.status == 64, "\(typed): \(result.stderr)")
            #expect(result.stderr.contains("did you mean '\(meant)'?"), "\(typed): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        let far = try runCLI(["frobnicate"])
        #expect(far.status == 64)
        #expect(far.stderr.contains("'frobnicate' is not a command") && !far.stderr.contains("did you mean"))
        #expect(far.stderr.contains("ingest, state"))
        // Real commands and help are untouched.
        #expect(try runCLI(["help"]).status == 0)
        #expect(try runCLI(["state", "--help"]).status == 0)
        #expect(SubcommandSuggestion.nearest(to: "sate", in: ["state", "audit"]) == "state")
        #expect(SubcommandSuggestion.nearest(to: "x", in: ["state", "audit"]) == nil)
    }

    @Test("--immutable appears in the help of reading commands only, and writing commands refuse it")
    func immutableOnlyWhereItReads() throws {
        for command in Self.readingCommands {
            let help = try runCLI([command, "--help"])
            #expect(help.stdout.contains("--immutable"), "\(command)")
        }
        for command in Self.writingCommands {
            let help = try runCLI([command, "--help"])
            #expect(help.status == 0)
            #expect(!help.stdout.contains("--immutable"), "\(command)")
            if ["ingest", "audit"].contains(command) { #expect(help.stdout.contains("--db"), "\(command)") }
        }
        #expect(try runCLI(["audit", "--immutable", "--db", "/nonexistent/gmem.db"]).status == 64)
    }

    @Test("an ingest of a missing or unreadable input creates no store")
    func failedIngestLeavesNoStore() throws {
        let temporary = try TemporaryStore()
        let scenario = try #require(scenarioFiles.first)
        for inputs in [[temporary.sibling("missing.jsonl")], [scenario.path, temporary.sibling("missing.jsonl")], [temporary.directory + "/nodir/x.trace"]] {
            for format in [[], ["--format", "jsonl"], ["--merge"]] {
                let result = try runCLI(["ingest", "--db", temporary.path] + format + inputs)
                #expect(result.status == 66, "\(inputs) \(format): \(result.stderr)")
                #expect(result.stderr.contains("missing.jsonl") || result.stderr.contains("x.trace"))
                #expect(!FileManager.default.fileExists(atPath: temporary.path), "\(inputs) \(format)")
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary.directory).isEmpty)
    }

    @Test("the busy timeout a writer waits is the one the README states")
    func busyTimeoutMatchesTheReadme() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        #expect(try store.database.scalarInt("PRAGMA busy_timeout") == Int64(Store.busyTimeoutSeconds * 1000))
        let readme = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        #expect(readme.contains("a \(Store.busyTimeoutSeconds) s busy timeout"))
        let stated = readme.components(separatedBy: " s busy timeout").dropLast().compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }
        #expect(!stated.isEmpty && stated.allSatisfy { $0 == Store.busyTimeoutSeconds }, "\(stated)")
        let busy = SQLiteError(extendedCode: 5, message: "database is locked", sql: "BEGIN IMMEDIATE")
        #expect(busy.description.contains("busy timeout (\(Store.busyTimeoutSeconds) s)"))
    }

    @Test("a changed verdict is reported with the field that differs, the stored value and the replay's")
    func verdictMismatchNamesTheField() throws {
        let base = try TemporaryStore()
        for scenario in scenarioFiles { _ = try JSONLIngest().ingest(path: scenario.path, into: base.store) }
        let row = try #require(try base.store.database.scalarInt("SELECT min(seq) FROM event WHERE expected IS NOT NULL AND diverged = 0"))
        let edits: [(sql: String, says: String)] = [
            ("diverged = 1", "diverged: stored true, replay false"),
            ("expected_error_offset = 4097", "expected error offset: stored 0x1001, replay none"),
            ("expected = (SELECT id FROM name WHERE text = 'EIO')", "expected result: stored EIO, replay "),
        ]
        for (index, edit) in edits.enumerated() {
            let copy = base.sibling("copy\(index).db")
            _ = try base.open()  // a checkpointed file to copy
            try FileManager.default.copyItem(atPath: base.path, toPath: copy)
            if FileManager.default.fileExists(atPath: base.path + "-wal") {
                try FileManager.default.copyItem(atPath: base.path + "-wal", toPath: copy + "-wal")
            }
            let database = try Database(path: copy, access: .readWrite)
            try database.execute("DROP TRIGGER IF EXISTS event_is_append_only_update")
            try database.execute("UPDATE event SET \(edit.sql) WHERE seq = \(row)")
            let store = try Store(path: copy, access: .readOnly(immutable: false))
            let report = try store.database.readTransaction { try Verifier(store: store).run() }
            let problem = report.problems.first { $0.contains("stored verdict") }
            #expect(problem?.contains(edit.says) == true, "\(edit.sql): \(report.problems.prefix(3))")
            #expect(problem?.contains("(ok) differs from a replay (ok)") != true)
        }
    }
}
