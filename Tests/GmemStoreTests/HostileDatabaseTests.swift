import CSQLite
import Foundation
import Testing
@testable import GmemStore

/// Files that are not healthy gmem stores — missing, not SQLite, another program's SQLite, a
/// newer schema, cut short, a corrupted page — get a clear error and the CLA.md exit code from
/// every reading command, never a crash, and their bytes are the same afterwards. With
/// `--immutable` no `-wal` or `-shm` appears beside them.
@Suite struct HostileDatabaseTests {
    /// A healthy store of a few hundred KB (scenarios plus a generated log), closed so that its
    /// WAL is checkpointed into the file: returns its path and a VM it knows.
    static func realStore(in directory: String) throws -> String {
        let path = directory + "/real.db"
        let inputs = try generatedFiles(in: directory, files: 2, perFile: 1500, seed: 11)
        do {
            let store = try Store(path: path, access: .readWrite)
            for input in inputs { _ = try JSONLIngest().ingest(path: input, into: store) }
            _ = try store.audit()
        }
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "closing the writer checkpoints and removes the WAL")
        return path
    }

    /// A directory removed when the test ends.
    final class Directory {
        let path = NSTemporaryDirectory() + "gmem-hostile-" + UUID().uuidString
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// One damaged file and the exit codes each reading command may give for it.
    struct Case {
        var name: String
        var path: String
        /// Exit codes allowed for state, history and explain.
        var reading: Set<Int32>
        /// Exit codes allowed for verify (2: a check failed, which is how verify reports a
        /// corrupted page it reads past the header).
        var verify: Set<Int32>
        /// True when opening the store already refuses it (its header, size or schema tells);
        /// otherwise the damage shows only when a page is read.
        var refusedAtOpen = true
    }

    /// Builds every kind of damaged file from one healthy store.
    static func cases(in directory: String) throws -> [Case] {
        let real = try realStore(in: directory)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: real))
        #expect(bytes.count > 64 * 4096, "the store spans many pages")
        func write(_ name: String, _ data: Data) -> String {
            let path = directory + "/" + name
            #expect(FileManager.default.createFile(atPath: path, contents: data))
            return path
        }
        var cases: [Case] = []
        cases.append(Case(name: "text", path: write("text.db", Data(String(repeating: "not a database\n", count: 400).utf8)), reading: [74], verify: [74]))
        cases.append(Case(name: "empty", path: write("empty.db", Data()), reading: [74], verify: [74]))

        let other = directory + "/other.db"
        var handle: OpaquePointer?
        sqlite3_open(other, &handle)
        sqlite3_exec(handle, "CREATE TABLE event(seq INTEGER PRIMARY KEY, body TEXT); INSERT INTO event VALUES (1, 'x')", nil, nil, nil)
        sqlite3_close(handle)
        cases.append(Case(name: "another program's SQLite", path: other, reading: [74], verify: [74]))

        let newer = write("newer.db", bytes)
        sqlite3_open(newer, &handle)
        sqlite3_exec(handle, "PRAGMA user_version = 99", nil, nil, nil)
        sqlite3_close(handle)
        cases.append(Case(name: "newer schema", path: newer, reading: [74], verify: [74]))

        cases.append(Case(name: "truncated to half", path: write("half.db", bytes.prefix(bytes.count / 2)), reading: [74], verify: [74]))
        cases.append(Case(name: "truncated mid-page", path: write("cut.db", bytes.prefix(bytes.count - 1000)), reading: [74], verify: [74]))

        var header = bytes
        header.replaceSubrange(40..<100, with: [UInt8](repeating: 0xA5, count: 60))
        cases.append(Case(name: "corrupted header", path: write("header.db", header), reading: [74], verify: [74]))

        // A run of garbage pages in the middle: a command that reads them fails with 74, one
        // that does not may answer from the intact pages; verify reads every page.
        var middle = bytes
        let start = (bytes.count / 2 / 4096) * 4096
        var random = SeededGenerator(seed: 5)
        middle.replaceSubrange(start..<start + 8 * 4096, with: (0..<8 * 4096).map { _ in UInt8.random(in: 0...255, using: &random) })
        cases.append(Case(name: "corrupted pages", path: write("pages.db", middle), reading: [0, 74], verify: [2, 74], refusedAtOpen: false))

        var zeroed = bytes
        zeroed.replaceSubrange(4096..<bytes.count, with: [UInt8](repeating: 0, count: bytes.count - 4096))
        cases.append(Case(name: "all pages after the first zeroed", path: write("zeroed.db", zeroed), reading: [74], verify: [2, 74], refusedAtOpen: false))
        return cases
    }

    static let readingCommands: [[String]] = [
        ["state"], ["state", "--format", "json"], ["history", "--gmem", "g0", "--offset", "0"], ["explain", "1"], ["verify"],
    ]

    @Test("every reading command on every damaged file: a clear error with its exit code, no crash, the file unchanged")
    func damagedFiles() throws {
        let directory = try Directory()
        var tried = 0
        var codes: [Int32: Int] = [:]
        let cases = try Self.cases(in: directory.path)
        for damaged in cases {
            let before = fileBytes(damaged.path)
            for command in Self.readingCommands {
                for immutable in [false, true] {
                    let arguments = command + ["--db", damaged.path] + (immutable ? ["--immutable"] : [])
                    let result = try runCLI(arguments)
                    tried += 1
                    codes[result.status, default: 0] += 1
                    let allowed = command[0] == "verify" ? damaged.verify : damaged.reading
                    #expect(result.reason == .exit, "\(damaged.name): \(arguments) died by signal \(result.status)")
                    // explain of a finding the damaged store cannot show exits 65/66 when the
                    // store itself opened; what matters is that it never says 0 on garbage.
                    let codes = command[0] == "explain" ? allowed.union([65, 66]) : allowed
                    #expect(codes.contains(result.status), "\(damaged.name): \(arguments) exited \(result.status): \(result.stderr)")
                    if result.status != 0 {
                        #expect(result.stderr.hasPrefix("gmem-audit: ") || result.stdout.contains("verify: FAILED"), "\(damaged.name): \(arguments): \(result.stderr)")
                        #expect(!result.stderr.contains("Fatal error"), "\(damaged.name): \(result.stderr)")
                    }
                    #expect(fileBytes(damaged.path) == before, "\(damaged.name): \(arguments) changed the file")
                    if immutable {
                        #expect(!FileManager.default.fileExists(atPath: damaged.path + "-wal"), "\(damaged.name): \(arguments) created a WAL")
                        #expect(!FileManager.default.fileExists(atPath: damaged.path + "-shm"), "\(damaged.name): \(arguments) created a -shm")
                    }
                    try? FileManager.default.removeItem(atPath: damaged.path + "-wal")
                    try? FileManager.default.removeItem(atPath: damaged.path + "-shm")
                }
            }
        }
        print("hostile database: \(tried) reading-command runs on \(cases.count) damaged files, no crash, no byte changed; exit codes \(codes.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "))")
    }

    @Test("a damaged file named to ingest or audit is refused with 74 and left as it was")
    func writersRefuse() throws {
        let directory = try Directory()
        let input = try generatedFiles(in: directory.path, files: 1, perFile: 10, seed: 3)[0]
        for damaged in try Self.cases(in: directory.path) where damaged.refusedAtOpen && damaged.name != "empty" {
            let before = fileBytes(damaged.path)
            for command in [["ingest", input], ["audit"]] {
                let result = try runCLI(command + ["--db", damaged.path])
                #expect(result.reason == .exit && result.status == 74, "\(damaged.name): \(command[0]) exited \(result.status): \(result.stderr)")
                #expect(fileBytes(damaged.path) == before, "\(damaged.name): \(command[0]) changed the file")
            }
        }
    }

    @Test("a missing store: 66 from every reading command, and no file is created")
    func missingStore() throws {
        let directory = try Directory()
        let path = directory.path + "/absent.db"
        for command in Self.readingCommands {
            let result = try runCLI(command + ["--db", path])
            #expect(result.status == 66, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("no gmem store at"))
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("reading a healthy store: the file's bytes never change; --immutable leaves no -wal or -shm")
    func healthyStoreUntouched() throws {
        let directory = try Directory()
        let path = try Self.realStore(in: directory.path)
        let before = fileBytes(path)
        for command in Self.readingCommands {
            let result = try runCLI(command + ["--db", path, "--immutable"])
            #expect(result.reason == .exit && [0, 1, 65, 66].contains(result.status), "\(command): \(result.stderr)")
            if command == ["verify"] { #expect(result.stdout.contains("verify: ok")) }
            #expect(!FileManager.default.fileExists(atPath: path + "-wal") && !FileManager.default.fileExists(atPath: path + "-shm"))
            #expect(fileBytes(path) == before)
        }
        // Without --immutable, SQLite's mode=ro still needs the WAL index beside a WAL store:
        // it may create an empty -wal and a -shm, but the store file itself stays the same.
        let result = try runCLI(["state", "--db", path])
        #expect(result.status == 0)
        #expect(fileBytes(path) == before)
        #expect(try runCLI(["ingest", "--immutable", "--db", path, "/dev/null"]).status == 64)
    }

    @Test("the library refuses every damaged file for reading and for writing with a StoreError")
    func libraryRefuses() throws {
        let directory = try Directory()
        for damaged in try Self.cases(in: directory.path) where damaged.refusedAtOpen {
            let before = fileBytes(damaged.path)
            var accesses: [Database.Access] = [.readOnly(immutable: false), .readOnly(immutable: true)]
            if damaged.name != "empty" { accesses.append(.readWrite) }
            for access in accesses {
                #expect(throws: StoreError.self, "\(damaged.name) \(access)") { try Store(path: damaged.path, access: access) }
            }
            #expect(fileBytes(damaged.path) == before, "\(damaged.name)")
        }
    }
}
