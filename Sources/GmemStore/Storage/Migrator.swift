/// Brings a store's schema up to date from the SQL in `Migrations/`, embedded at build time.
/// Each migration runs in one immediate transaction; `user_version` records how many have run.
/// A shipped migration is never edited: a change is a new file.
public enum Migrator {
    /// `PRAGMA application_id` of a gmem store: "gmem" in ASCII.
    public static let applicationID: Int64 = 0x676D_656D

    /// The schema version this build writes: the number of migrations it knows.
    public static var latestVersion: Int64 { Int64(Embedded.migrations.count) }

    /// Applies the migrations the store has not seen.
    static func migrate(_ database: Database) throws {
        let version = try database.scalarInt("PRAGMA user_version") ?? 0
        guard version < latestVersion else { return }
        for (index, migration) in Embedded.migrations.enumerated() where Int64(index) >= version {
            try database.writeTransaction { () throws(SQLiteError) in
                // Another process (a second ingest on a new store) may have applied it since
                // the version was read above: the write lock is held now, so look again.
                guard try (database.scalarInt("PRAGMA user_version") ?? 0) == Int64(index) else { return }
                try database.execute(migration.text)
                try database.execute("PRAGMA user_version = \(index + 1)")
                try database.execute("PRAGMA application_id = \(applicationID)")
            }
        }
    }
}
