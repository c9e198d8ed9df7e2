/// Collects, with each appended event, the derived data forensic queries need — its page spans
/// (`page_pack`), the frames it names (`frame_event`), its ts when it runs backwards
/// (`ts_disorder`) or ends a grid step (`ts_grid`), the Merkle subtree roots it completes — and
/// writes them sorted by key in bulk (`flush`, at the end of a batch and every
/// `flushThreshold` rows), so each index is filled in key order instead of one random B-tree
/// insert per event. Page spans are held across the flushes at snapshot points
/// (`flush(store:pages:)`), so that a pack gathers the spans of up to `flushThreshold` events. Lives in the batch writer; the store keeps it between batches.
struct ForensicIndexWriter {
    /// The right edge of the Merkle tree over the events so far.
    private(set) var frontier = MerkleFrontier()
    /// The largest ts so far (nil when no event had one).
    private(set) var maxTS: Int64?

    /// Every `tsGridStep` events, `ts_grid` records the largest ts so far.
    static let tsGridStep: Int64 = 1024
    /// Rows held before they are written.
    static let flushThreshold = 1 << 16

    private var pages: [(gmem: Int64, level: Int, span: PagePack.Span)] = []
    private var frames: [(level: Int64, bin: Int64, seq: Int64, lo: Int64, hi: Int64, gmem: Int64?, page: Int64?)] = []
    private var disorder: [(seq: Int64, ts: Int64)] = []
    private var grid: [(seq: Int64, ts: Int64)] = []
    private var nodes: [(level: Int64, index: Int64, hash: [UInt8])] = []

    /// Rebuilds the writer's state for a log of `seq` events: the stored subtree roots, then
    /// the events after the last of them.
    init(store: Store, seq: Int64) throws {
        let level = Merkle.storedLevel
        let stored = try store.database.prepare("SELECT idx, hash FROM merkle_node WHERE level = ? AND idx < ? ORDER BY idx")
        try stored.bind(1, Int64(level))
        try stored.bind(2, seq >> Int64(level))
        var expected: Int64 = 0
        while try stored.step() {
            guard stored.int(0) == expected else { break }
            frontier.append(level: level, hash: stored.blob(1))
            expected += 1
        }
        let covered = Int64(frontier.count)
        if covered < seq {
            var found: [(level: Int64, index: Int64, hash: [UInt8])] = []
            try store.forEachEvent(in: (covered + 1)...seq) { stored in
                frontier.append(level: 0, hash: Merkle.leafHash(body: stored.body)) { level, index, hash in
                    if level >= Merkle.storedLevel { found.append((Int64(level), Int64(index), hash)) }
                }
                return true
            }
            nodes = found
        }
        // The largest ts so far: the grid's last maximum, and the events after it.
        maxTS = try store.database.scalarInt("""
            SELECT max(m) FROM (SELECT (SELECT max_ts FROM ts_grid ORDER BY seq DESC LIMIT 1) AS m
            UNION ALL SELECT max(ts) FROM event WHERE seq > coalesce((SELECT max(seq) FROM ts_grid), 0))
            """)
    }

    /// The frame key of a frame number: its top bit flipped, so that SQLite's signed order is
    /// the frames' unsigned order (migration 0001, `frame_event`).
    static func frameKey(_ pfn: UInt64) -> Int64 { Int64(bitPattern: pfn ^ (1 << 63)) }
    /// The frame number of a frame key.
    static func frame(key: Int64) -> UInt64 { UInt64(bitPattern: key) ^ (1 << 63) }

    /// Records event `seq` (already inserted): its page spans (gmem as a name id), its frame
    /// spans, its ts, its Merkle leaf hash (`Merkle.leafHash`).
    /// `nodes`: the inner Merkle nodes `leaf` completes, when they were hashed ahead
    /// (`MerkleFrontier.append(level:hash:nodes:completed:)`); nil to hash them here.
    mutating func record(
        store: Store, seq: Int64, ts: Int64?, leaf: [UInt8], nodes ahead: [[UInt8]]? = nil,
        spans: [(gmem: Int64, pages: Range<UInt64>)], frames spans2: [FrameIndex.Span]
    ) throws {
        for span in spans where !span.pages.isEmpty {
            pages.append((span.gmem, PageSpanIndex.level(of: span.pages), PagePack.Span(seq: seq, pages: span.pages)))
        }
        for span in spans2 {
            let level = FrameIndex.level(of: span.frames)
            frames.append((
                Int64(level), Self.frameKey(span.frames.lowerBound) >> Int64(level), seq, Self.frameKey(span.frames.lowerBound),
                Self.frameKey(span.frames.upperBound), try span.gmem.map { try store.names.id(for: $0) },
                span.firstPage.map { Int64(bitPattern: $0) }))
        }
        if let ts {
            if let maxTS, ts < maxTS {
                disorder.append((seq, ts))
            } else {
                maxTS = ts
            }
        }
        if seq % Self.tsGridStep == 0, let maxTS { grid.append((seq, maxTS)) }
        func keep(_ level: Int, _ index: UInt64, _ hash: [UInt8]) {
            if level >= Merkle.storedLevel { nodes.append((Int64(level), Int64(index), hash)) }
        }
        if let ahead {
            frontier.append(level: 0, hash: leaf, nodes: ahead, completed: keep)
        } else {
            frontier.append(level: 0, hash: leaf, completed: keep)
        }
        if pages.count + frames.count >= Self.flushThreshold { try flush(store: store) }
    }

    /// Writes the rows held so far, each table's sorted by its key; the page spans too unless
    /// `pages` is false (a snapshot point: they wait to fill their packs).
    mutating func flush(store: Store, pages flushPages: Bool = true) throws {
        let database = store.database
        if flushPages { try PagePack.write(&pages, to: database) }
        if !frames.isEmpty {
            frames.sort { ($0.level, $0.bin, $0.seq, $0.lo) < ($1.level, $1.bin, $1.seq, $1.lo) }
            let insert = try database.cached(
                "INSERT OR IGNORE INTO frame_event(level, bin, seq, pfn_lo, pfn_hi, gmem, page_lo) VALUES (?,?,?,?,?,?,?)")
            for row in frames {
                try insert.bind(1, row.level)
                try insert.bind(2, row.bin)
                try insert.bind(3, row.seq)
                try insert.bind(4, row.lo)
                try insert.bind(5, row.hi)
                try insert.bind(6, row.gmem)
                try insert.bind(7, row.page)
                try insert.run()
            }
            frames.removeAll(keepingCapacity: true)
        }
        for (table, rows) in [("ts_disorder(seq, ts)", disorder), ("ts_grid(seq, max_ts)", grid)] where !rows.isEmpty {
            let insert = try database.cached("INSERT OR REPLACE INTO \(table) VALUES (?, ?)")
            for row in rows {
                try insert.bind(1, row.seq)
                try insert.bind(2, row.ts)
                try insert.run()
            }
        }
        disorder.removeAll(keepingCapacity: true)
        grid.removeAll(keepingCapacity: true)
        if !nodes.isEmpty {
            let insert = try database.cached("INSERT OR REPLACE INTO merkle_node(level, idx, hash) VALUES (?, ?, ?)")
            for node in nodes {
                try insert.bind(1, node.level)
                try insert.bind(2, node.index)
                try insert.bind(3, node.hash)
                try insert.run()
            }
            nodes.removeAll(keepingCapacity: true)
        }
    }
}
