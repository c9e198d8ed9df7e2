import CSQLite
import Foundation
import Testing
@testable import GmemStore

/// `--immutable` on a copy of a store taken together with its `-wal`: every reading command
/// answers from the whole committed log, and neither copied file is written.
@Suite("--immutable folds in the WAL", .serialized)
struct ImmutableWALTests {
    /// A store whose batches are all still in its `-wal` (the writer turned automatic
    /// checkpoints off and is still open), copied file by file as an analyst would copy the
    /// evidence, and the same store once the writer closed and checkpointed.
    static func walOnlyCopy(in temporary: TemporaryStore) throws -> (copy: String, whole: String) {
        let copyDirectory = temporary.sibling("evidence")
        try FileManager.default.createDirectory(atPath: copyDirectory, withIntermediateDirectories: true)
        let copy = copyDirectory + "/gmem.db"
        do {
            let writer = try temporary.open()
            try writer.database.execute("PRAGMA wal_autocheckpoint = 0")
            for scenario in scenarioFiles.prefix(4) {
                _ = try JSONLIngest().ingest(path: scenario.path, into: writer)
            }
            _ = try writer.audit()
            #expect(StoreWALCopy.walHasFrames(temporary.path))
            try FileManager.default.copyItem(atPath: temporary.path, toPath: copy)
            try FileManager.default.copyItem(atPath: temporary.path + "-wal", toPath: copy + "-wal")
        }
        return (copy, temporary.path)
    }

    @Test("state, export, verify, history and explain with --immutable see every batch still in the WAL")
    func everyReadingCommandSeesTheWAL() throws {
        let temporary = try TemporaryStore()
        let (copy, whole) = try Self.walOnlyCopy(in: temporary)
        // The main file alone holds no event: without folding the WAL in, the log looks empty.
        let mainOnly = try Database(path: copy, access: .readOnly(immutable: true))
        #expect(try mainOnly.scalarInt("SELECT count(*) FROM event") == 0)
        let wholeHead = try Store(path: whole, access: .readOnly(immutable: false)).headLink().seq
        #expect(wholeHead > 0)

        let copyBytes = (fileBytes(copy), fileBytes(copy + "-wal"))
        let state = try runCLI(["state", "--format", "json"] + ["--db", whole])
        let firstRun = try #require((try jsonObject(state.stdout) as? [[String: Any]])?.first)
        let gmem = try #require(firstRun["gmem"] as? String)
        let commands: [[String]] = [
            ["state", "--format", "json"], ["state"], ["export"], ["export", "--format", "csv"],
            ["history", "--gmem", gmem, "--offset", "0", "--size", "0x200000"], ["explain", "1"],
        ]
        #expect(try runCLI(["explain", "1", "--db", whole]).status == 0)
        for command in commands {
            let expected = try runCLI(command + ["--db", whole])
            let immutable = try runCLI(command + ["--db", copy, "--immutable"])
            #expect(immutable.status == expected.status, "\(command): \(immutable.stderr)")
            #expect(immutable.stdout == expected.stdout, "\(command)")
        }
        let verify = try runCLI(["verify", "--db", copy, "--immutable"])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("head: \(wholeHead):"))
        #expect(verify.stdout.contains("verify: ok"))
        let expectHead = try #require(verify.stdout.split(separator: "\n").first { $0.hasPrefix("head: ") }?.dropFirst(6))
        #expect(try runCLI(["verify", "--db", whole, "--expect-head", String(expectHead)]).status == 0)

        // Nothing beside the copy was written or created.
        #expect(fileBytes(copy) == copyBytes.0)
        #expect(fileBytes(copy + "-wal") == copyBytes.1)
        #expect(!FileManager.default.fileExists(atPath: copy + "-shm"))
    }

    @Test("the library's immutable open reads the WAL's batches and removes its private copy when closed")
    func libraryFoldsAndCleansUp() throws {
        let temporary = try TemporaryStore()
        let (copy, whole) = try Self.walOnlyCopy(in: temporary)
        let expected = try Store(path: whole, access: .readOnly(immutable: false)).headLink()
        var scratch: String?
        do {
            let store = try Store(path: copy, access: .readOnly(immutable: true))
            let head = try store.headLink()
            #expect(head.seq == expected.seq && head.hash == expected.hash)
            let file = String(cString: sqlite3_db_filename(store.database.handle, "main"))
            #expect(file != copy)
            scratch = file
            #expect(FileManager.default.fileExists(atPath: file))
        }
        let left = try #require(scratch)
        #expect(!FileManager.default.fileExists(atPath: left))
        #expect(!FileManager.default.fileExists(atPath: (left as NSString).deletingLastPathComponent))
    }

    @Test("a private copy that cannot be made is refused with a message, never read short")
    func copyFailureRefuses() throws {
        let temporary = try TemporaryStore()
        let (copy, _) = try Self.walOnlyCopy(in: temporary)
        let result = try runCLI(["state", "--db", copy, "--immutable"], environment: ["TMPDIR": temporary.sibling("no-such-directory")])
        #expect(result.status == 74)
        #expect(result.stderr.contains("holds committed batches not yet in"))
        #expect(result.stdout.isEmpty)
    }
}
