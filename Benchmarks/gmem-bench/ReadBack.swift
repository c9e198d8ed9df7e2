import GmemStore

/// Figure 3: reading the log back into events, without the engine. This is the one place the
/// benchmark names the Store API that yields events, so that a new reader (a column reader in
/// place of the canonical-body decoder) is measured by changing this function alone.
enum ReadBack {
    /// Reads every event of `store` from seq 1 into an `Event` and returns how many it read,
    /// with a checksum of their ts so that the events cannot be optimised away.
    static func events(_ store: Store) throws -> (events: Int, checksum: UInt64) {
        let head = try store.headLink().seq
        guard head > 0 else { return (0, 0) }
        var count = 0
        var checksum: UInt64 = 0
        try store.forEachDecodedEvent(in: 1...head) { _, event in
            count += 1
            checksum &+= UInt64(bitPattern: event.ts ?? 0)
        }
        return (count, checksum)
    }
}
