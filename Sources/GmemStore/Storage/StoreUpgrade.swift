#if canImport(Glibc)
import Glibc
#endif

/// Copies a store made before schema 1 (its events kept as canonical JSON bodies) into a new
/// schema-1 store: `gmem-audit upgrade OLD NEW`, the one place that still reads the old layout.
/// Each old batch becomes one batch of the new store, its bodies re-ingested verbatim, so every
/// event keeps its hash and the new head equals the old one; the old file is only read.
/// Findings are not copied (derived: `audit` makes them again).
public enum StoreUpgrade {
    /// What an upgrade did.
    public struct Summary: Equatable, Sendable {
        public var batches = 0
        public var events: Int64 = 0
        public var head = "0:" + HashChain.hex(HashChain.genesis)
    }

    /// True when the database at hand has the layout before schema 1 (an `event` table with a
    /// `body` column).
    static func isOldLayout(_ database: Database) throws(SQLiteError) -> Bool {
        try (database.scalarInt("SELECT count(*) FROM pragma_table_info('event') WHERE name = 'body'") ?? 0) > 0
    }

    /// Upgrades the store at `old` into a new store at `new`, which must not exist yet.
    public static func upgrade(from old: String, to new: String) throws -> Summary {
        let source: Database
        do {
            source = try Database(path: old, access: .readOnly(immutable: false))
            guard try source.scalarInt("PRAGMA application_id") == Migrator.applicationID else {
                throw StoreError.notAStore(path: old, reason: "its application_id is not gmem's")
            }
            guard try isOldLayout(source) else {
                throw StoreError.notAStore(path: old, reason: "it is already a schema-1 store (or not a gmem store); nothing to upgrade")
            }
        } catch let error as SQLiteError {
            throw StoreError.notAStore(path: old, reason: error.message)
        }
        guard access(new, F_OK) != 0 else {
            throw StoreError.unreadableInput(path: new, reason: "it exists; upgrade writes a new store and never overwrites one")
        }
        let store = try Store(path: new, access: .readWrite)
        var summary = Summary()
        try source.readTransaction { () throws in
            let batches = try source.prepare("SELECT id, source, format FROM batch WHERE first_seq IS NOT NULL ORDER BY first_seq")
            let events = try source.prepare("SELECT seq, body, hash FROM event WHERE batch = ? ORDER BY seq")
            while try batches.step() {
                try events.bind(1, batches.int(0))
                _ = try store.ingest(source: batches.string(1), format: "upgrade", readAs: "upgrade of " + batches.string(2)) { writer in
                    while try events.step() {
                        let seq = events.int(0)
                        let event: Event
                        do throws(EventDecodingError) {
                            event = try Event(jsonLine: events.string(1))
                        } catch {
                            throw StoreError.decode(file: old, line: UInt64(seq), message: "the stored body does not decode: \(error.description)")
                        }
                        try writer.append(event)
                        guard writer.seq == seq, writer.hash == events.blob(2) else {
                            throw StoreError.decode(
                                file: old, line: UInt64(seq),
                                message: "the event does not keep its seq and hash when re-ingested (the old store fails verify, or its body is not canonical)")
                        }
                        summary.events += 1
                    }
                    events.reset()
                    return nil
                }
                summary.batches += 1
            }
        }
        let head = try store.headLink()
        summary.head = "\(head.seq):\(HashChain.hex(head.hash))"
        return summary
    }
}
