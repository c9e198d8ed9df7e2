extension Store {
    /// Applies the events with `seq` in `range` to `engine`, in order, skipping retracted ones
    /// (`forEachEffectiveEvent`): the replay loop of `engine(at:)`, and of anything that
    /// rebuilds state from the log. A long range is read on a second thread while the engine
    /// runs on this one (`EventReadAhead`).
    public func replay(_ range: ClosedRange<Int64>, into engine: inout Engine) throws {
        try forEachEffectiveEvent(in: range, readingAhead: true) { seq, event in engine.apply(event, seq: seq) }
    }

    /// Calls `body` with each event with `seq` in `range`, in order, built from its event pack
    /// or its columns (`EventScan`): no JSON is parsed on the replay path (only an event with
    /// extra fields parses them).
    public func forEachDecodedEvent(in range: ClosedRange<Int64>, _ body: (Int64, Event) throws -> Void) throws {
        try forEachDecodedEvent(in: range, readingAhead: false, body)
    }

    /// `forEachDecodedEvent`, with a range of at least `EventReadAhead.minimumEvents` read on a
    /// second thread when `readingAhead` is set: then `body` must not use this store.
    func forEachDecodedEvent(in range: ClosedRange<Int64>, readingAhead: Bool, _ body: (Int64, Event) throws -> Void) throws {
        let scan = try EventScan(store: self, range: range)
        if readingAhead, range.upperBound - range.lowerBound >= EventReadAhead.minimumEvents {
            return try EventReadAhead.forEach(scan, body)
        }
        while try scan.next({ seq, event in try body(seq, event) }) {}
    }

    /// The next row of a `SELECT seq, <EventRow.columns>` as its seq and event; nil after the
    /// last row.
    static func decodedEvent(_ statement: Statement, names: inout NameLookup) throws -> (Int64, Event)? {
        guard try statement.step() else { return nil }
        let seq = statement.int(0)
        do throws(EventRow.Malformed) {
            return (seq, try EventRow.event(from: statement, at: 1, names: &names))
        } catch {
            throw StoreError.decode(file: "event", line: UInt64(seq), message: "the stored row \(error.message)")
        }
    }

    /// The seq of the last event whose `ts` is at or before `nanoseconds` (0 when none).
    /// Events without a ts are not compared: they count as happening where they stand in the log.
    ///
    /// The events in order of ts (each at least as late as every one before it) end at the last
    /// seq whose running maximum of ts is at or before the time: `ts_grid` holds that maximum
    /// every 1024 events, so it is one seek there and a scan of at most 1024 rows. Events whose
    /// ts ran backwards are in `ts_disorder`: the last of them at or before the time is one more.
    public func seq(atTime nanoseconds: Int64) throws(SQLiteError) -> Int64 {
        let grid = try database.cached("SELECT max(seq) FROM ts_grid WHERE max_ts <= ?")
        defer { grid.reset() }
        try grid.bind(1, nanoseconds)
        _ = try grid.step()
        let start = grid.optionalInt(0) ?? 0
        grid.reset()
        let before = try database.cached("SELECT seq FROM event WHERE seq <= ? AND ts IS NOT NULL ORDER BY seq DESC LIMIT 1")
        defer { before.reset() }
        try before.bind(1, start)
        var candidate = try before.step() ? before.int(0) : 0
        before.reset()
        let scan = try database.cached("SELECT seq, ts FROM event WHERE seq > ? AND seq <= ? + ? ORDER BY seq")
        defer { scan.reset() }
        try scan.bind(1, start)
        try scan.bind(2, start)
        try scan.bind(3, ForensicIndexWriter.tsGridStep)
        while try scan.step() {
            guard let ts = scan.optionalInt(1) else { continue }
            if ts > nanoseconds {
                // Later in order, unless it ran backwards (then ts_disorder answers for it).
                if try isDisordered(scan.int(0)) { continue }
                break
            }
            candidate = scan.int(0)
        }
        let disorder = try database.cached("SELECT max(seq) FROM ts_disorder WHERE ts <= ?")
        defer { disorder.reset() }
        try disorder.bind(1, nanoseconds)
        _ = try disorder.step()
        return max(candidate, disorder.optionalInt(0) ?? 0)
    }

    private func isDisordered(_ seq: Int64) throws(SQLiteError) -> Bool {
        let statement = try database.cached("SELECT 1 FROM ts_disorder WHERE seq = ?")
        defer { statement.reset() }
        try statement.bind(1, seq)
        return try statement.step()
    }
}
