extension Store {
    /// The snapshot interval of a store that was given none: see docs/FORENSICS.md for the
    /// measurements behind it.
    public static let defaultSnapshotInterval: Int64 = 4096

    /// What the default grid's snapshots may cost, in bytes of snapshot per event of the log: a grid seq
    /// gets a snapshot only when the events since the previous grid snapshot are at least its
    /// size divided by this. A snapshot grows with the state (the runs of the open files and the
    /// frame map), so on a long log a fixed grid would make snapshots the largest table after
    /// the log; with the budget they stay near this many bytes an event at any length, and
    /// `state --at` replays at most (snapshot size ÷ budget, rounded up to the grid) events
    /// (docs/FORENSICS.md). Six since schema 5: a replay reads the event packs at two to three
    /// times the speed of the rows, so twice the events between snapshots cost no more time,
    /// and the packs' 8–9 bytes an event are paid from the snapshots' share.
    public static let snapshotBytesPerEvent: Int64 = 6

    /// True when grid seq `seq` gets a snapshot, the newest grid snapshot before it being
    /// `last` (seq and stored size; (0, 0) when there is none): always when the store was given
    /// its interval, else when the budget allows it.
    func isGridSnapshotDue(at seq: Int64, after last: (seq: Int64, bytes: Int64)) -> Bool {
        guard let budget = snapshotBudget else { return true }
        return (seq - last.seq) * budget >= last.bytes
    }

    /// The newest grid snapshot before `seq`: its seq and the size of its blob; (0, 0) when
    /// there is none. A batch-end snapshot off the grid is not one (it is dropped when the next
    /// batch ends), nor is a continuing store's state at seq 0.
    func lastGridSnapshot(before seq: Int64) throws(SQLiteError) -> (seq: Int64, bytes: Int64) {
        let statement = try database.cached(
            "SELECT seq, length(state) FROM snapshot WHERE seq < ? AND seq > 0 AND seq % ? = 0 ORDER BY seq DESC LIMIT 1")
        defer { statement.reset() }
        try statement.bind(1, seq)
        try statement.bind(2, max(snapshotInterval, 1))
        guard try statement.step() else { return (0, 0) }
        return (statement.int(0), statement.int(1))
    }

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
