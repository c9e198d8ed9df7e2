/// Writes, with each appended event, the derived data forensic queries need (migration 0003):
/// the event's page spans in the overlap index, its ts when it runs backwards, and the Merkle
/// subtree roots it completes. Lives in the batch writer; the store keeps it between batches.
struct ForensicIndexWriter {
    /// The right edge of the Merkle tree over the events so far.
    private(set) var frontier = MerkleFrontier()
    /// The largest ts so far (nil when no event had one).
    private(set) var maxTS: Int64?

    /// Rebuilds the writer's state for a log of `seq` events: the stored subtree roots, then
    /// the bodies after the last of them. Subtree roots missing from the table (a store made
    /// before migration 0003) are computed and stored here.
    init(store: Store, seq: Int64) throws {
        let level = Merkle.storedLevel
        let nodes = try store.database.prepare("SELECT idx, hash FROM merkle_node WHERE level = ? AND idx < ? ORDER BY idx")
        try nodes.bind(1, Int64(level))
        try nodes.bind(2, seq >> Int64(level))
        var expected: Int64 = 0
        while try nodes.step() {
            guard nodes.int(0) == expected else { break }
            frontier.append(level: level, hash: nodes.blob(1))
            expected += 1
        }
        let covered = Int64(frontier.count)
        if covered < seq {
            let insert = try store.database.cached("INSERT OR REPLACE INTO merkle_node(level, idx, hash) VALUES (?, ?, ?)")
            try store.forEachEvent(in: (covered + 1)...seq) { stored in
                try frontier.append(level: 0, hash: Merkle.leafHash(body: stored.body)) { level, index, hash in
                    guard level >= Merkle.storedLevel else { return }
                    try insert.bind(1, Int64(level))
                    try insert.bind(2, Int64(index))
                    try insert.bind(3, hash)
                    try insert.run()
                }
                return true
            }
        }
        maxTS = try store.database.scalarInt("SELECT max(ts) FROM event WHERE ts IS NOT NULL")
    }

    /// Records event `seq` (already inserted): its spans with its form, its ts if out of
    /// order, its leaf. `form` is computed only when the event has spans.
    mutating func record(
        store: Store, seq: Int64, ts: Int64?, body: String, spans: [(gmem: String, pages: Range<UInt64>)],
        form: () -> [UInt8]
    ) throws {
        if !spans.isEmpty {
            let insert = try store.database.cached(
                "INSERT OR IGNORE INTO page_event(gmem, level, bin, seq, page_lo, page_hi, form) VALUES (?,?,?,?,?,?,?)")
            let form = form()
            for span in spans where !span.pages.isEmpty {
                let level = PageSpanIndex.level(of: span.pages)
                try insert.bind(1, span.gmem)
                try insert.bind(2, Int64(level))
                try insert.bind(3, Int64(bitPattern: span.pages.lowerBound >> UInt64(level)))
                try insert.bind(4, seq)
                try insert.bind(5, Int64(bitPattern: span.pages.lowerBound))
                try insert.bind(6, Int64(bitPattern: span.pages.upperBound))
                try insert.bind(7, form)
                try insert.run()
            }
        }
        if let ts {
            if let maxTS, ts < maxTS {
                let insert = try store.database.cached("INSERT INTO ts_disorder(seq, ts) VALUES (?, ?)")
                try insert.bind(1, seq)
                try insert.bind(2, ts)
                try insert.run()
            } else {
                maxTS = ts
            }
        }
        try frontier.append(level: 0, hash: Merkle.leafHash(body: body)) { level, index, hash in
            guard level >= Merkle.storedLevel else { return }
            let insert = try store.database.cached("INSERT OR REPLACE INTO merkle_node(level, idx, hash) VALUES (?, ?, ?)")
            try insert.bind(1, Int64(level))
            try insert.bind(2, Int64(index))
            try insert.bind(3, hash)
            try insert.run()
        }
    }
}
