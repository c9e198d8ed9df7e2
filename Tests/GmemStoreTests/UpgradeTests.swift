import Foundation
import Testing
@testable import GmemStore

/// A store made before schema 1 is refused by every command with a message naming `upgrade`,
/// and `upgrade` copies it into a schema-1 store with every hash and the head unchanged.
@Suite struct UpgradeTests {
    /// Writes an old-layout store (events as canonical JSON bodies) holding the events of
    /// `store`, one old batch per batch; returns the old store's path.
    func oldLayoutStore(from store: Store, at path: String, editing seq: Int64? = nil) throws {
        let old = try Database(path: path, access: .readWrite)
        try old.execute("""
            PRAGMA application_id = \(Migrator.applicationID);
            PRAGMA user_version = 4;
            CREATE TABLE batch (id INTEGER PRIMARY KEY, source TEXT NOT NULL, format TEXT NOT NULL, content_hash BLOB,
                started_at TEXT NOT NULL, first_seq INTEGER, last_seq INTEGER, added INTEGER NOT NULL DEFAULT 0,
                skipped INTEGER NOT NULL DEFAULT 0, rejected INTEGER NOT NULL DEFAULT 0) STRICT;
            CREATE TABLE event (seq INTEGER PRIMARY KEY, batch INTEGER NOT NULL, ts INTEGER, op TEXT NOT NULL, host TEXT NOT NULL,
                producer_id TEXT, body TEXT NOT NULL, hash BLOB NOT NULL, expected TEXT, expected_error_offset INTEGER,
                diverged INTEGER NOT NULL) STRICT;
            INSERT INTO batch(id, source, format, started_at) VALUES (1, 'a.jsonl', 'jsonl', 'then'), (2, 'b.jsonl', 'jsonl', 'then');
            """)
        let insert = try old.prepare("INSERT INTO event(seq, batch, op, host, body, hash, diverged) VALUES (?, ?, ?, ?, ?, ?, 0)")
        try store.forEachEvent(in: 1...Int64.max) { stored in
            try insert.bind(1, stored.seq)
            try insert.bind(2, stored.seq <= 300 ? 1 : 2)
            try insert.bind(3, stored.event.op.name)
            try insert.bind(4, stored.event.host)
            try insert.bind(5, stored.seq == seq ? stored.body.replacingOccurrences(of: "\"host\":\"local\"", with: "\"host\":\"elsewhere\"") : stored.body)
            try insert.bind(6, stored.hash)
            try insert.run()
            insert.reset()
            return true
        }
        try old.execute("UPDATE batch SET first_seq = (SELECT min(seq) FROM event WHERE batch = batch.id), last_seq = (SELECT max(seq) FROM event WHERE batch = batch.id)")
    }

    @Test func anOldStoreIsRefusedAndUpgradedWithItsHead() throws {
        let temporary = try TemporaryStore()
        try ingest(generatedLog(events: 600, seed: 4, gmemSize: 8 << 20, misbehaviour: 0.2, ids: true), name: "gen.jsonl", into: temporary.store)
        let head = try temporary.store.headLink()
        let oldPath = temporary.sibling("old.db")
        try oldLayoutStore(from: temporary.store, at: oldPath)
        for access in [Database.Access.readOnly(immutable: false), .readWrite] {
            #expect {
                _ = try Store(path: oldPath, access: access)
            } throws: { error in
                guard case .oldLayout = error as? StoreError else { return false }
                return "\(error)".contains("gmem-audit upgrade")
            }
        }
        let newPath = temporary.sibling("new.db")
        let summary = try StoreUpgrade.upgrade(from: oldPath, to: newPath)
        #expect(summary.batches == 2)
        #expect(summary.events == head.seq)
        #expect(summary.head == "\(head.seq):\(HashChain.hex(head.hash))")
        let upgraded = try Store(path: newPath, access: .readOnly(immutable: false))
        #expect(try Verifier(store: upgraded).run().passed)
        #expect(throws: StoreError.self) { try StoreUpgrade.upgrade(from: oldPath, to: newPath) }
    }

    @Test func anOldStoreWhoseBodyWasChangedIsNotUpgraded() throws {
        let temporary = try TemporaryStore()
        try ingest(generatedLog(events: 400, seed: 6, gmemSize: 8 << 20, ids: true), name: "gen.jsonl", into: temporary.store)
        let oldPath = temporary.sibling("old.db")
        try oldLayoutStore(from: temporary.store, at: oldPath, editing: 123)
        #expect {
            _ = try StoreUpgrade.upgrade(from: oldPath, to: temporary.sibling("new.db"))
        } throws: { error in
            "\(error)".contains(":123: the event does not keep its seq and hash")
        }
    }
}
