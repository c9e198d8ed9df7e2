import Foundation
import Testing

@testable import GmemStore

/// Schema 4 (`Migrations/0004_drop_addressing_index.sql`): the partial index whose `op IN (…)`
/// predicate made every event insert build a temporary b-tree is gone; a schema-3 store is
/// read as it is and migrated by the next writer.
@Suite struct SchemaFourTests {
    /// The opcodes of SQLite's program for an event insert.
    static func insertProgram(_ store: Store) throws -> [String] {
        let explain = try store.database.prepare(
            "EXPLAIN INSERT INTO event(batch, op, host, hash, diverged, structural) VALUES (1, 6, 1, x'00', 0, 0)")
        var opcodes: [String] = []
        while try explain.step() { opcodes.append(explain.string(1)) }
        return opcodes
    }

    @Test func anEventInsertBuildsNoTemporaryTable() throws {
        let temporary = try TemporaryStore()
        let opcodes = try Self.insertProgram(temporary.store)
        #expect(opcodes.contains("Insert"))
        #expect(!opcodes.contains("OpenEphemeral"), "an event insert opens a temporary table: \(opcodes)")
        // No partial index on the event table is written with an IN list, which SQLite
        // evaluates through a temporary table on every insert.
        let predicates = try temporary.store.database.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'event' AND sql IS NOT NULL")
        while try predicates.step() {
            #expect(!predicates.string(1).uppercased().contains(" IN ("), "\(predicates.string(0)): \(predicates.string(1))")
        }
    }

    @Test func aSchemaThreeStoreIsReadAsItIsAndMigratedByTheNextWriter() throws {
        let temporary = try TemporaryStore()
        let lines = generatedLog(events: 3000, seed: 41, gmemSize: 8 << 20, misbehaviour: 0.2).split(separator: "\n")
        try ingest(lines[..<2000].joined(separator: "\n"), name: "a.jsonl", into: temporary.store)
        let head = try temporary.store.headLink()
        let state = try temporary.store.engine(at: head.seq).state
        // Back to schema 3: the index as 0001 made it.
        try temporary.store.database.execute(
            "DROP TABLE event_pack; CREATE INDEX event_addressing_op ON event(op, seq) WHERE op IN (6, 18, 19); PRAGMA user_version = 3; PRAGMA wal_checkpoint(TRUNCATE)")
        #expect(try Self.insertProgram(temporary.store).contains("OpenEphemeral"))

        // A reading command reads it as it is, and writes nothing.
        let reader = try temporary.open(.readOnly(immutable: false))
        #expect(try reader.headLink().hash == head.hash)
        #expect(try reader.engine(at: head.seq).state == state)
        #expect(try reader.database.scalarInt("PRAGMA user_version") == 3)

        // The next writer migrates it: the index is dropped, nothing else changes.
        let writer = try temporary.open(.readWrite)
        #expect(try writer.database.scalarInt("PRAGMA user_version") == Migrator.latestVersion)
        #expect(try writer.database.scalarInt("SELECT count(*) FROM sqlite_schema WHERE name = 'event_addressing_op'") == 0)
        #expect(!(try Self.insertProgram(writer).contains("OpenEphemeral")))
        try ingest(lines[2000...].joined(separator: "\n"), name: "b.jsonl", into: writer)
        #expect(try Verifier(store: writer).run().passed)

        // A store older than schema 3 is still refused by a reader, naming the command that migrates it.
        try writer.database.execute("PRAGMA user_version = 2")
        #expect {
            try Store(path: temporary.path, access: .readOnly(immutable: false))
        } throws: { error in
            "\(error)".contains("gmem-audit audit --db \(temporary.path)")
        }
    }
}
