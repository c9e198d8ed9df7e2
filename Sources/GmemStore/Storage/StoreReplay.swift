extension Store {
    /// Applies the events with `seq` in `range` to `engine`, in order: the replay loop of
    /// `engine(at:)`, and of anything that rebuilds state from the log.
    public func replay(_ range: ClosedRange<Int64>, into engine: inout Engine) throws {
        try forEachDecodedEvent(in: range) { _, event in engine.apply(event) }
    }

    /// Calls `body` with each event with `seq` in `range`, in order, decoded.
    ///
    /// It reads only `seq` and `body`, and decodes each body straight from SQLite's buffer
    /// (`EventLineDecoder`; the general decoder for a body of another shape), so that a replay
    /// costs no copy of the row and no allocation besides the event's own strings.
    public func forEachDecodedEvent(in range: ClosedRange<Int64>, _ body: (Int64, Event) throws -> Void) throws {
        let statement = try database.prepare("SELECT seq, body FROM event WHERE seq BETWEEN ? AND ? ORDER BY seq")
        try statement.bind(1, range.lowerBound)
        try statement.bind(2, range.upperBound)
        while try statement.step() {
            let fast = statement.withBytes(1) { EventLineDecoder.decode($0) }
            let event: Event
            if let fast {
                event = fast
            } else {
                do throws(EventDecodingError) {
                    event = try Event(jsonLine: statement.string(1))
                } catch {
                    throw StoreError.decode(file: "event", line: UInt64(statement.int(0)), message: "stored body does not decode: \(error.description)")
                }
            }
            try body(statement.int(0), event)
        }
    }
}
