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
