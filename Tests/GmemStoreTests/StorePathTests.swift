import Foundation
import Testing
@testable import GmemStore

#if canImport(Glibc)
import Glibc
#endif

/// Store paths that are not a regular file are refused at once with a message, by every
/// command (issue 12 item 10); scratch files of a killed store creation are cleaned up by the
/// next writer (item 14); a store on read-only media says so (item 16).
@Suite("store paths", .serialized)
struct StorePathTests {
    static let readingCommands: [[String]] = [["state"], ["verify"], ["export"], ["history", "--pfn", "0"], ["explain", "1"], ["report", "--out", "/dev/null"]]
    static let writingCommands: [[String]] = [["ingest", "/dev/null"], ["audit"]]

    /// Runs the CLI, failing the test (and killing the child) when it has not finished within
    /// `seconds`: a FIFO used to hang `state` and `verify` forever.
    func runBounded(_ arguments: [String], seconds: Double = 20) throws -> ProcessResult {
        let process = try startCLI(arguments)
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("\(arguments) did not finish within \(seconds) s")
        }
        return finish(process)
    }

    @Test("a FIFO, a directory, /dev/null and a dangling symlink are refused with a message, never hang", .timeLimit(.minutes(3)))
    func notARegularFile() throws {
        let temporary = try TemporaryStore()
        let fifo = temporary.sibling("fifo.db")
        #expect(mkfifo(fifo, 0o600) == 0)
        let directory = temporary.sibling("directory.db")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let dangling = temporary.sibling("dangling.db")
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: temporary.sibling("nowhere.db"))
        let cases: [(path: String, status: Int32, says: String)] = [
            (fifo, 74, "it is a FIFO"), (directory, 74, "it is a directory"), ("/dev/null", 74, "it is a character device"),
            (dangling, 66, "is a symbolic link to"),
        ]
        for (path, status, says) in cases {
            for command in Self.readingCommands + Self.writingCommands {
                let result = try runBounded(command + ["--db", path])
                #expect(result.status == status, "\(command) \(path): \(result.stderr)")
                #expect(result.stderr.contains(says), "\(command) \(path): \(result.stderr)")
                #expect(!result.stderr.contains("disk I/O error"))
            }
            for access in [Database.Access.readOnly(immutable: false), .readOnly(immutable: true), .readWrite] {
                #expect(throws: StoreError.self, "\(path) \(access)") { try Store(path: path, access: access) }
            }
        }
        // Nothing was created where the link points, and the directory is still empty.
        #expect(!FileManager.default.fileExists(atPath: temporary.sibling("nowhere.db")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    @Test("a store in a directory that does not exist: 66, saying which directory, for reading and for writing")
    func missingDirectory() throws {
        let temporary = try TemporaryStore()
        let scenario = try #require(scenarioFiles.first)
        let path = temporary.sibling("no-such-directory") + "/gmem.db"
        let writing = try runCLI(["ingest", "--db", path, scenario.path])
        #expect(writing.status == 66, "\(writing.stderr)")
        #expect(writing.stderr.contains("the directory '\(temporary.sibling("no-such-directory"))' does not exist"), "\(writing.stderr)")
        #expect(!writing.stderr.contains("read-only media"))
        let reading = try runCLI(["state", "--db", path])
        #expect(reading.status == 66 && reading.stderr.contains("no gmem store at"), "\(reading.stderr)")
    }

    @Test("a symbolic link to a store is followed")
    func linkToAStoreWorks() throws {
        let temporary = try TemporaryStore()
        let scenario = try #require(scenarioFiles.first)
        _ = try JSONLIngest().ingest(path: scenario.path, into: temporary.store)
        let link = temporary.sibling("link.db")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: temporary.path)
        let state = try runCLI(["state", "--db", link])
        #expect(state.status == 0, "\(state.stderr)")
    }

    @Test("scratch files of a store creation whose process is gone are removed by the next writer; a live one's stay")
    func abandonedScratchFiles() throws {
        let temporary = try TemporaryStore()
        _ = try temporary.open()
        // A process that has exited: its pid names no process any more.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let deadPid = gone.processIdentifier
        #expect(kill(deadPid, 0) != 0)
        let abandoned = ["", "-wal", "-shm"].map { temporary.path + ".creating-\(deadPid)-12345" + $0 }
        let live = temporary.path + ".creating-\(getpid())-777"
        let unrelated = temporary.sibling("gmem.db.creating-notes.txt")
        for path in abandoned + [live, unrelated] { #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8))) }

        // A reading command changes nothing, even beside a store that exists.
        _ = try Store(path: temporary.path, access: .readOnly(immutable: false))
        for path in abandoned { #expect(FileManager.default.fileExists(atPath: path)) }
        // The next writer removes the abandoned ones.
        _ = try temporary.open()
        for path in abandoned { #expect(!FileManager.default.fileExists(atPath: path), "\(path)") }
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(FileManager.default.fileExists(atPath: unrelated))
    }

    @Test("a creation killed mid-way by SIGKILL leaves scratch files that the next ingest removes")
    func killedCreationIsCleanedUp() throws {
        let temporary = try TemporaryStore()
        let scenario = try #require(scenarioFiles.first)
        var leftBehind = false
        for _ in 0..<40 where !leftBehind {
            let path = temporary.sibling("killed-\(UUID().uuidString).db")
            let process = try startCLI(["ingest", "--db", path, scenario.path])
            // Kill it as soon as its scratch file appears.
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary.directory)) ?? []
                if names.contains(where: { $0.contains(".creating-") }) { break }
            }
            kill(process.processIdentifier, SIGKILL)
            _ = finish(process)
            let names = try FileManager.default.contentsOfDirectory(atPath: temporary.directory)
            guard names.contains(where: { $0.contains(".creating-") }) else { continue }
            leftBehind = true
            let again = try runCLI(["ingest", "--db", path, scenario.path])
            #expect(again.status == 0, "\(again.stderr)")
            let after = try FileManager.default.contentsOfDirectory(atPath: temporary.directory)
            #expect(!after.contains { $0.contains(".creating-") }, "\(after)")
        }
        #expect(leftBehind, "no kill landed during creation in 40 tries")
    }

    /// Runs `body` with `directory` remounted read-only in a private mount namespace, when this
    /// machine lets the tests make one (root with CAP_SYS_ADMIN); nil otherwise.
    static func readOnlyMountAvailable() -> Bool {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        probe.arguments = ["-m", "--", "sh", "-c", "mount -t tmpfs none /mnt && mount -o remount,ro /mnt"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }

    @Test("a store on read-only media: reading says to use --immutable, writing says it cannot add, --immutable works",
          .enabled(if: readOnlyMountAvailable(), "needs unshare -m and mount (root with CAP_SYS_ADMIN)"))
    func readOnlyMedia() throws {
        let temporary = try TemporaryStore()
        let scenario = try #require(scenarioFiles.first)
        let media = temporary.sibling("media")
        try FileManager.default.createDirectory(atPath: media, withIntermediateDirectories: false)
        let store = media + "/gmem.db"
        #expect(try runCLI(["ingest", "--db", store, scenario.path]).status == 0)
        let cli = try requireCLI()
        func onReadOnlyMedia(_ arguments: [String]) throws -> ProcessResult {
            let quoted = ([cli] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            process.arguments = ["-m", "--", "sh", "-c", "mount --bind '\(media)' '\(media)' && mount -o remount,bind,ro '\(media)' && exec \(quoted)"]
            process.standardOutput = Pipe()
            process.standardError = Pipe()
            try process.run()
            return finish(process)
        }
        let reading = try onReadOnlyMedia(["state", "--db", store])
        #expect(reading.status == 74, "\(reading.stderr)")
        #expect(reading.stderr.contains("read-only media") && reading.stderr.contains("--immutable"), "\(reading.stderr)")
        #expect(!reading.stderr.contains("PRAGMA user_version"))
        let writing = try onReadOnlyMedia(["ingest", "--db", store, scenario.path])
        #expect(writing.status == 74, "\(writing.stderr)")
        #expect(writing.stderr.contains("read-only media") && writing.stderr.contains("copy the store somewhere writable"), "\(writing.stderr)")
        let creating = try onReadOnlyMedia(["ingest", "--db", media + "/new.db", scenario.path])
        #expect(creating.status == 74, "\(creating.stderr)")
        #expect(creating.stderr.contains("read-only media"), "\(creating.stderr)")
        let immutable = try onReadOnlyMedia(["state", "--db", store, "--immutable"])
        #expect(immutable.status == 0, "\(immutable.stderr)")
        #expect(immutable.stdout == (try runCLI(["state", "--db", store])).stdout)
    }
}
