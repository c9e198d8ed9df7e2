extension Store {
    /// The snapshot interval of a store that was given none: see docs/FORENSICS.md for the
    /// measurements behind it.
    public static let defaultSnapshotInterval: Int64 = 4096

    /// The snapshot interval this store was told to use (`ingest --snapshot-interval`), if any.
    public func recordedSnapshotInterval() throws(SQLiteError) -> Int64? {
        let statement = try database.cached("SELECT value FROM setting WHERE key = 'snapshot_interval'")
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return Int64(statement.string(0))
    }

    /// Records the snapshot interval for every later ingest, and uses it from now on.
    public func recordSnapshotInterval(_ interval: Int64) throws {
        precondition(interval > 0, "a snapshot interval is a positive number of events")
        try database.writeTransaction { () throws(SQLiteError) in
            let statement = try database.cached("INSERT OR REPLACE INTO setting(key, value) VALUES ('snapshot_interval', ?)")
            try statement.bind(1, String(interval))
            try statement.run()
        }
        snapshotInterval = interval
    }
}
