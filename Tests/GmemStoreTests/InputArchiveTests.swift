import Foundation
import Testing
@testable import GmemStore

/// The input of every batch is evidence too: its bytes come back as given, every line can be
/// found, and a changed chunk is caught by `verify`.
@Suite struct InputArchiveTests {
    @Test func aStoredInputComesBackByteForByteAndEveryLineIsFound() throws {
        let temporary = try TemporaryStore()
        // More than three chunks, so that lines run across chunk boundaries.
        let text = generatedLog(events: 8000, seed: 12, gmemSize: 8 << 20, ids: true)
        #expect(text.utf8.count > 3 * InputArchive.chunkSize)
        let path = try temporary.file("big.jsonl", text)
        let summary = try JSONLIngest().ingest(path: path, into: temporary.store)
        let inputs = try InputArchive.inputs(of: summary.batch, in: temporary.store)
        #expect(inputs.count == 1)
        var stored: [UInt8] = []
        try InputArchive.forEachChunk(of: inputs[0].id, in: temporary.store) { stored += $0 }
        #expect(stored == Array(text.utf8))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(inputs[0].lines == Int64(lines.count - 1))
        for number in [1, 2, 1000, 1999, 2000, 2001, 4321, 7999, 8000] {
            let line = try InputArchive.line(Int64(number), of: inputs[0].id, in: temporary.store)
            #expect(line.map { String(decoding: $0, as: UTF8.self) } == String(lines[number - 1]), "line \(number)")
            #expect(try temporary.store.originalLine(of: Int64(number))?.text == String(lines[number - 1]))
        }
        #expect(try InputArchive.line(8001, of: inputs[0].id, in: temporary.store) == nil)
    }

    @Test func aCompressedInputIsStoredAsGiven() throws {
        let temporary = try TemporaryStore()
        let text = generatedLog(events: 500, seed: 3, gmemSize: 8 << 20)
        let plain = try temporary.file("log.jsonl", text)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", plain]
        try gzip.run()
        gzip.waitUntilExit()
        let given = try Data(contentsOf: URL(fileURLWithPath: plain + ".gz"))
        let summary = try MergeIngest().ingest([(plain + ".gz", nil)], into: temporary.store)
        #expect(summary.batch.added == 500)
        let input = try #require(try InputArchive.inputs(of: summary.batch.batch, in: temporary.store).first)
        var stored: [UInt8] = []
        try InputArchive.forEachChunk(of: input.id, in: temporary.store) { stored += $0 }
        #expect(stored == Array(given))
        #expect(try Verifier(store: temporary.store).run().passed)
    }
}

/// `history --original` and `explain --original` print, with each event, its line of the input
/// as given, read back from the store.
@Suite struct OriginalLineCommandTests {
    @Test func historyAndExplainPrintTheLineAsGiven() throws {
        let temporary = try TemporaryStore()
        let scenario = ScenarioFiles.directory + "/02-no-release-unmap-fails.jsonl"
        let lines = try String(contentsOfFile: scenario, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let db = temporary.sibling("cli.db")
        #expect(try runCLI(["ingest", "--db", db, scenario]).status == 0)
        #expect([0, 1].contains(try runCLI(["audit", "--db", db]).status))
        let history = try runCLI(["history", "--db", db, "--gmem", "g02", "--offset", "0x10000", "--original"])
        #expect(history.status == 0, "\(history.stderr)")
        #expect(history.stdout.contains("    input   \(scenario):13  \(lines[12])"), "\(history.stdout)")
        let explain = try runCLI(["explain", "--db", db, "5", "--original", "--format", "json"])
        #expect(explain.status == 0, "\(explain.stderr)")
        #expect(explain.stdout.contains(#""input":{"name":"\#(scenario)","line":13,"text":"#), "\(explain.stdout)")
        let export = try runCLI(["export", "--db", db, "--original", "1"])
        #expect(export.stdout == (try String(contentsOfFile: scenario, encoding: .utf8)))
    }
}
