/// The events of a seq range, in order, each built from its event pack where its block is
/// packed (`EventPack`) and from its row elsewhere: the blocks after the last whole one, a
/// store written before schema 5, and an event with a text or blob column (its pack entry only
/// marks it). The replay path of every reading command (`Store.forEachDecodedEvent`).
///
/// Rows and packs give the same events (`verify` checks every pack against the rows), so
/// where a block is read from does not change what a replay sees; only its cost: one row of
/// SQLite per block of `EventPack.eventsPerBlock` events instead of 25 columns of each.
final class EventScan {
    private var names: NameLookup
    private let upper: Int64
    /// The next seq to give; `done` once the range is read (its upper bound may be
    /// `Int64.max`, past which no next seq can be counted).
    private var nextSeq: Int64
    private var done = false

    /// The packs of the range's blocks, in block order; nil on a store without packs.
    private let packs: Statement?
    /// The block of the pack row `packs` stands on, not yet read; nil after the last.
    private var packAhead: Int64?
    /// The pack being read, and its block.
    private let reader = EventPack.Reader()
    private var readerBlock: Int64 = 0

    /// The rows of a stretch without packs, while one is read, and its last seq.
    private let rows: Statement
    private var rowsEnd: Int64?
    /// One row, for an event its pack only marks.
    private let one: Statement

    init(store: Store, range: ClosedRange<Int64>) throws(SQLiteError) {
        let database = store.database
        names = NameLookup(store.names)
        upper = range.upperBound
        nextSeq = range.lowerBound
        rows = try database.prepare("SELECT seq, \(EventRow.columns) FROM event WHERE seq BETWEEN ? AND ? ORDER BY seq")
        one = try database.prepare("SELECT seq, \(EventRow.columns) FROM event WHERE seq = ?")
        let span = range.upperBound.subtractingReportingOverflow(range.lowerBound)
        if store.hasEventPacks, span.overflow || span.partialValue >= EventPack.eventsPerBlock / 2 {
            let packs = try database.prepare("SELECT block, events FROM event_pack WHERE block BETWEEN ? AND ? ORDER BY block")
            try packs.bind(1, EventPack.block(of: max(range.lowerBound, 1)))
            try packs.bind(2, EventPack.block(of: max(range.upperBound, 1)))
            self.packs = packs
            packAhead = try packs.step() ? packs.int(0) : nil
        } else {
            packs = nil
        }
    }

    /// Calls `body` with the next event of the range and its seq; false after the last. The
    /// event goes to `body` as it is built, not copied out of a returned value: an `Event` is a
    /// few hundred bytes, and its copies were a sixth of a read's time. `body` owns it, so a
    /// reader that keeps it (`EventReadAhead`) moves it into its block without a copy.
    func next(_ body: (Int64, consuming Event) throws -> Void) throws -> Bool {
        while !done, nextSeq <= upper {
            if let end = rowsEnd {
                if let (seq, event) = try Store.decodedEvent(rows, names: &names) {
                    advance(past: seq)
                    try body(seq, event)
                    return true
                }
                rowsEnd = nil
                advance(past: end)
                continue
            }
            if reader.remaining > 0 {
                let seq = EventPack.firstSeq(of: readerBlock) + EventPack.eventsPerBlock - reader.remaining
                let entry = reader.next()
                guard seq >= nextSeq else { continue }
                advance(past: seq)
                if entry.hasText {
                    let (seq, event) = try row(seq)
                    try body(seq, event)
                    return true
                }
                let event: Event
                do throws(EventRow.Malformed) {
                    event = try EventRow.event(from: entry, names: &names)
                } catch {
                    throw malformed(block: readerBlock, "gives seq \(seq) an event that \(error.message)")
                }
                try body(seq, event)
                return true
            }
            let block = EventPack.block(of: nextSeq)
            if let packs {
                while let ahead = packAhead, ahead < block { packAhead = try packs.step() ? packs.int(0) : nil }
            }
            if let packs, packAhead == block {
                let loaded = packs.withBytes(1) { bytes in
                    (try? reader.load(UnsafeRawBufferPointer(bytes))) != nil
                }
                guard loaded else { throw malformed(block: block, "does not decode") }
                readerBlock = block
                packAhead = try packs.step() ? packs.int(0) : nil
                continue
            }
            // No pack for this block: its rows, up to the next pack.
            let end = min(upper, packAhead.map { EventPack.firstSeq(of: $0) - 1 } ?? upper)
            rows.reset()
            try rows.bind(1, nextSeq)
            try rows.bind(2, end)
            rowsEnd = end
        }
        return false
    }

    /// Moves on to the seq after `seq`, or ends the scan at the range's upper bound.
    private func advance(past seq: Int64) {
        if seq >= upper {
            done = true
        } else {
            nextSeq = max(nextSeq, seq + 1)
        }
    }

    /// The event of `seq` from its row.
    private func row(_ seq: Int64) throws -> (Int64, Event) {
        one.reset()
        try one.bind(1, seq)
        guard let event = try Store.decodedEvent(one, names: &names) else {
            throw StoreError.decode(file: "event", line: UInt64(seq), message: "its event pack names a row that is not stored: run verify")
        }
        return event
    }

    private func malformed(block: Int64, _ message: String) -> StoreError {
        let first = EventPack.firstSeq(of: block)
        return .decode(
            file: "event_pack", line: UInt64(first),
            message: "the event pack of seqs \(first)…\(first + EventPack.eventsPerBlock - 1) \(message): run verify")
    }
}
