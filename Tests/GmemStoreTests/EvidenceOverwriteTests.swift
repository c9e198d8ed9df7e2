import Foundation
import Testing
@testable import GmemStore

/// A command that writes a file of its own (`report --out`) must never write it over the store
/// it reads, whatever path names the store, nor where SQLite keeps the store's WAL and index.
@Suite struct EvidenceOverwriteTests {
    @Test("report --out naming the store, a link to it, or its -wal or -shm is refused with 64, the store untouched")
    func reportRefusesTheStore() throws {
        _ = try requireCLI()
        let temporary = try TemporaryStore()
        do {
            let store = try temporary.open()
            for scenario in scenarioFiles.prefix(2) { _ = try JSONLIngest().ingest(path: scenario.path, into: store) }
        }
        let link = temporary.sibling("link.db")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: temporary.path)
        let before = try #require(fileBytes(temporary.path))
        let outputs = [
            temporary.path, temporary.directory + "/./gmem.db", link, temporary.path + "-wal", temporary.path + "-shm",
        ]
        for out in outputs {
            let result = try runCLI(["report", "--db", temporary.path, "--out", out])
            #expect(result.status == 64, "--out \(out): exited \(result.status): \(result.stderr)")
            #expect(result.stderr.contains("is the store itself"), "--out \(out): \(result.stderr)")
            #expect(fileBytes(temporary.path) == before, "--out \(out) changed the store")
        }
        // The store read through the link is the same file.
        #expect(try runCLI(["report", "--db", link, "--out", temporary.path]).status == 64)
        let verify = try runCLI(["verify", "--db", temporary.path])
        #expect(verify.status == 0 && verify.stdout.contains("verify: ok"), "\(verify.stdout)\(verify.stderr)")
        // Another file is written as before.
        let page = temporary.sibling("page.html")
        #expect(try runCLI(["report", "--db", temporary.path, "--out", page]).status == 0)
        #expect(FileManager.default.fileExists(atPath: page))
    }

    @Test("ingest of the store itself, or of its -wal, as an input is refused with 64, the store untouched")
    func ingestRefusesTheStoreAsInput() throws {
        _ = try requireCLI()
        let temporary = try TemporaryStore()
        do {
            let store = try temporary.open()
            _ = try JSONLIngest().ingest(path: try #require(scenarioFiles.first).path, into: store)
        }
        let before = try #require(fileBytes(temporary.path))
        for input in [temporary.path, temporary.path + "-wal"] {
            let result = try runCLI(["ingest", "--db", temporary.path, input])
            #expect(result.status == 64, "\(input): exited \(result.status): \(result.stderr)")
            #expect(result.stderr.contains("is the store itself"), "\(result.stderr)")
        }
        #expect(fileBytes(temporary.path) == before)
    }
}
