import Foundation
import Testing
@testable import GmemStore

/// POSIX advisory locks belong to a process, not to a descriptor: closing any descriptor of a
/// file drops every lock the process holds on it, SQLite's own included (SQLite's "How To
/// Corrupt An SQLite Database File", section 2.2). A store opened while this process already
/// has a connection to the same file must leave that connection's locks in place; otherwise
/// another process can take the file's exclusive lock, believe it is the last one open,
/// checkpoint and delete the `-wal` under a writer that still appends to it.
@Suite(.serialized) struct SameProcessLockTests {
    /// The POSIX locks this process holds on the file at `path`, as /proc/locks lists them
    /// (type, access, pid, device and inode, range); nil where there is no /proc/locks.
    static func ownLocks(on path: String) -> [String]? {
        guard let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        let pid = String(getpid())
        return table.split(separator: "\n").filter { line in
            // `N: POSIX  ADVISORY  READ PID MAJOR:MINOR:INODE START END`; waiters (`->`) are not held.
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8, fields[1] == "POSIX", fields[4] == pid else { return false }
            return fields[5].split(separator: ":").last == Substring(String(info.st_ino))
        }.map { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().joined(separator: " ") }  // without the table's ordinal
    }

    /// A store with a few batches, its WAL checkpointed and cut to nothing, and the writer
    /// still open: as a VMM holds it between appends.
    static func openWriter(_ temporary: TemporaryStore) throws -> Store {
        let writer = try temporary.open()
        for scenario in scenarioFiles.prefix(3) { _ = try JSONLIngest().ingest(path: scenario.path, into: writer) }
        try writer.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return writer
    }

    @Test("opening a second store on a file this process has open keeps the first connection's locks")
    func secondOpenKeepsLocks() throws {
        let temporary = try TemporaryStore()
        let writer = try Self.openWriter(temporary)
        guard let before = Self.ownLocks(on: temporary.path) else { return }  // no /proc/locks here
        #expect(!before.isEmpty, "the writer's connection holds no lock on its store")
        let reader = try temporary.open(.readOnly(immutable: false))
        _ = try reader.headLink()
        #expect(Self.ownLocks(on: temporary.path) == before, "a second open dropped this process's locks on the store")
        _ = try writer.headLink()
    }

    @Test("an --immutable read that copies the WAL keeps the locks of a connection this process has open")
    func immutableCopyKeepsLocks() throws {
        let temporary = try TemporaryStore()
        let writer = try temporary.open()
        try writer.database.execute("PRAGMA wal_autocheckpoint = 0")
        for scenario in scenarioFiles.prefix(2) { _ = try JSONLIngest().ingest(path: scenario.path, into: writer) }
        #expect(StoreWALCopy.walHasFrames(temporary.path))
        guard let before = Self.ownLocks(on: temporary.path) else { return }
        #expect(!before.isEmpty)
        let copy = try temporary.open(.readOnly(immutable: true))
        #expect(try copy.headLink().seq == writer.headLink().seq)
        #expect(Self.ownLocks(on: temporary.path) == before, "copying the store for an --immutable read dropped this process's locks on it")
    }

    @Test("another process that writes and exits while this one holds a writer and a reader leaves the WAL and every batch")
    func otherProcessLeavesTheWAL() throws {
        _ = try requireCLI()
        let temporary = try TemporaryStore()
        let writer = try Self.openWriter(temporary)
        let reader = try temporary.open(.readOnly(immutable: false))
        _ = try reader.headLink()
        // The writer goes on; another process audits (a writing command) and closes.
        for scenario in scenarioFiles.dropFirst(3).prefix(2) { _ = try JSONLIngest().ingest(path: scenario.path, into: writer) }
        let audit = try runCLI(["audit", "--db", temporary.path, "--format", "json"])
        #expect([0, 1].contains(audit.status), "\(audit.stderr)")
        // Its close must not have found the file unused: the writer's WAL is still where it was.
        #expect(FileManager.default.fileExists(atPath: temporary.path + "-wal"), "another process deleted the WAL of a store this process writes")
        for scenario in scenarioFiles.dropFirst(5).prefix(2) { _ = try JSONLIngest().ingest(path: scenario.path, into: writer) }
        let head = try writer.headLink().seq
        // A third process sees every batch the writer committed, and a sound file.
        let verify = try runCLI(["verify", "--db", temporary.path])
        #expect(verify.status == 0 && verify.stdout.contains("verify: ok"), "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("head: \(head):"), "another process does not see the log up to seq \(head): \(verify.stdout)")
        _ = try reader.headLink()
    }
}
