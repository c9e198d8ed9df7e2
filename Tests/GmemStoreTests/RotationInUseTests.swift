import Foundation
import Testing
@testable import GmemStore

/// `watch --rotate` renames the store it writes. SQLite finds a store's WAL by its name, so a
/// connection still open on the old file (a `state` or an `audit` an operator runs meanwhile)
/// would next read the new store's WAL as its own. A store someone else has open is therefore
/// not renamed; the rotation waits until it is let go.
@Suite(.serialized) struct RotationInUseTests {
    @Test("a rotation leaves a store another connection has open, goes on writing it, and rotates once it is let go")
    func rotationWaitsForOtherConnections() throws {
        let temporary = try TemporaryStore()
        let lines = generatedLog(events: 600, seed: 11, gmemSize: 8 << 20).split(separator: "\n").map { $0 + "\n" }
        let log = try temporary.file("vmm.jsonl", lines[..<300].joined())
        // The session holds the only reference to its store: its close is the store's close.
        let session = try WatchSession(store: try Store(path: temporary.path, access: .readWrite), inputs: [try FollowedInput(path: log)])
        while try session.step() > 0 {}
        let archive = temporary.sibling("gmem.1.db")

        var reader: Store? = try temporary.open(.readOnly(immutable: false))
        let before = try reader!.headLink().seq
        #expect(try session.rotate(path: temporary.path, archive: archive) == false)
        #expect(!FileManager.default.fileExists(atPath: archive), "a store another connection had open was renamed")
        #expect(session.rotations == 0 && session.postponedRotations == 1)
        // The session goes on in the same store, and the reader sees what it writes.
        try append(lines[300...].joined(), to: log)
        while try session.step() > 0 {}
        try session.commit(finalBatch: true)
        let head = try reader!.headLink().seq
        #expect(head > before)

        reader = nil
        #expect(try session.rotate(path: temporary.path, archive: archive) == true)
        #expect(FileManager.default.fileExists(atPath: archive))
        try session.stop()
        var events: Int64 = 0
        for path in [archive, temporary.path] { events += try Store(path: path, access: .readOnly(immutable: false)).headLink().seq }
        #expect(events == 600, "the chain holds \(events) events, not 600")
        #expect(try Store(path: archive, access: .readOnly(immutable: false)).headLink().seq == head)
        let verify = try runCLI(["verify", archive, temporary.path])
        #expect(verify.status == 0, "verify of the chain: \(verify.stdout) \(verify.stderr)")
    }
}
