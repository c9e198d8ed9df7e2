/// Brings a store's schema up to date from the SQL in `Migrations/`, embedded at build time.
/// Each migration runs in one immediate transaction; `user_version` records how many have run.
/// A shipped migration is never edited: a change is a new file.
public enum Migrator {
    /// `PRAGMA application_id` of a gmem store: "gmem" in ASCII.
    public static let applicationID: Int64 = 0x676D_656D

    /// The schema version this build writes: the number of migrations it knows.
    public static var latestVersion: Int64 { Int64(Embedded.migrations.count) }

    /// The oldest schema a reading command reads as it is, without the writing open that
    /// migrates it: schema 4 only dropped an index that no reader used, so a schema-3 store reads
    /// the same. An older store is refused with the command that migrates it.
    public static let readableFrom: Int64 = 3

    /// Applies the migrations the store has not seen.
    static func migrate(_ database: Database) throws {
        let version = try database.scalarInt("PRAGMA user_version") ?? 0
        guard version < latestVersion else { return }
        for (index, migration) in Embedded.migrations.enumerated() where Int64(index) >= version {
            try database.writeTransaction { () throws in
                // Another process (a second ingest on a new store) may have applied it since
                // the version was read above: the write lock is held now, so look again.
                guard try (database.scalarInt("PRAGMA user_version") ?? 0) == Int64(index) else { return }
                try database.execute(migration.text)
                try completeMigration(index + 1, database)
                try database.execute("PRAGMA user_version = \(index + 1)")
                try database.execute("PRAGMA application_id = \(applicationID)")
            }
        }
    }

    /// The part of a migration that SQL cannot do, in its transaction, after its SQL.
    /// Schema 3: the page_event rows of schema 2 become packs (derived data: the index is
    /// rewritten, the log is not), and the first seq whose conversions carry `returned_early`
    /// is recorded. Schema 5: the event rows already stored are packed (`EventPack`).
    private static func completeMigration(_ version: Int, _ database: Database) throws {
        if version == 5 { try EventPack.packStoredRows(database) }
        guard version == 3 else { return }
        try PagePack.packSchemaTwoRows(database)
        let next = (try database.scalarInt("SELECT max(seq) FROM event") ?? 0) + 1
        try database.execute("INSERT OR REPLACE INTO setting(key, value) VALUES ('\(PagePack.returnedEarlyFromKey)', '\(next)')")
    }
}
