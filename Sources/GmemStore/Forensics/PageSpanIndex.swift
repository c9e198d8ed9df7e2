/// The overlap index over the page ranges events resolved to (`page_event`): answers "which events
/// touched pages [a, b) of this gmem" with one B-tree range seek per level instead of a scan of
/// the log.
///
/// A span [lo, hi) is filed at the smallest level L at which it lies within two adjacent bins
/// of 2^L pages, in bin lo >> L. If it overlaps [a, b) then lo < b and hi - 1 >= a, so its bin
/// is at least (a >> L) - 1 and at most (b - 1) >> L: the query reads that bin range at every
/// level and keeps the spans that really overlap.
/// - Complexity: O(levels · log n + k) for k spans found, with at most 53 levels.
public enum PageSpanIndex {
    /// The level a span is filed at.
    public static func level(of pages: Range<UInt64>) -> Int {
        precondition(!pages.isEmpty)
        var level = 0
        while ((pages.upperBound - 1) >> UInt64(level)) - (pages.lowerBound >> UInt64(level)) > 1 { level += 1 }
        return level
    }

    /// The seqs of the events whose resolved pages overlap `pages` of `gmem`, ascending, once each.
    public static func events(touching pages: Range<UInt64>, of gmem: String, in store: Store) throws(SQLiteError) -> [Int64] {
        guard let id = try store.names.existingID(for: gmem) else { return [] }
        var seqs: [Int64] = []
        try forEachOverlap(
            of: pages, table: "page_event", key: ("gmem", id), bounds: ("page_lo", "page_hi"), columns: "seq", in: store
        ) { row in
            seqs.append(row.int(0))
        }
        seqs.sort()
        var unique: [Int64] = []
        unique.reserveCapacity(seqs.count)
        for seq in seqs where unique.last != seq { unique.append(seq) }
        return unique
    }

    /// The spans of `gmem` that overlap `pages`, each with its event's seq (an event that
    /// resolved to several spans of the file gives one each), in no particular order.
    public static func spans(touching pages: Range<UInt64>, of gmem: String, in store: Store) throws(SQLiteError) -> [(seq: Int64, pages: Range<UInt64>)] {
        guard let id = try store.names.existingID(for: gmem) else { return [] }
        var spans: [(seq: Int64, pages: Range<UInt64>)] = []
        try forEachOverlap(
            of: pages, table: "page_event", key: ("gmem", id), bounds: ("page_lo", "page_hi"), columns: "seq, page_lo, page_hi", in: store
        ) { row in
            spans.append((row.int(0), UInt64(bitPattern: row.int(1))..<UInt64(bitPattern: row.int(2))))
        }
        return spans
    }

    /// The levels a binned index `table` uses (for rows whose `key` column has the value given,
    /// if any), ascending, each found by one seek past the last: no scan of the index.
    static func levels(of table: String, key: (column: String, value: Int64)?, in store: Store) throws(SQLiteError) -> [Int64] {
        let keyTerm = key.map { "\($0.column) = ? AND " } ?? ""
        let next = try store.database.cached("SELECT min(level) FROM \(table) WHERE \(keyTerm)level > ?")
        defer { next.reset() }
        var levels: [Int64] = []
        var level: Int64 = -1
        while true {
            if let key { try next.bind(1, key.value) }
            try next.bind(key == nil ? 1 : 2, level)
            guard try next.step(), let found = next.optionalInt(0) else { break }
            levels.append(found)
            level = found
            next.reset()
        }
        return levels
    }

    /// Calls `body` with each row of a binned index `table` whose span [`bounds.0`, `bounds.1`)
    /// overlaps `range` (and whose `key` column, if any, has the value given): one range seek
    /// per level the rows use, those levels found by skipping from one to the next.
    static func forEachOverlap(
        of range: Range<UInt64>, table: String, key: (column: String, value: Int64)?, bounds: (String, String),
        columns: String, in store: Store, _ body: (Statement) -> Void
    ) throws(SQLiteError) {
        guard !range.isEmpty else { return }
        let keyTerm = key.map { "\($0.column) = ? AND " } ?? ""
        let first: Int32 = key == nil ? 1 : 2
        let levels = try Self.levels(of: table, key: key, in: store)
        let query = try store.database.cached(
            "SELECT \(columns) FROM \(table) WHERE \(keyTerm)level = ? AND bin BETWEEN ? AND ? AND \(bounds.0) < ? AND \(bounds.1) > ?")
        defer { query.reset() }
        for level in levels {
            let shift = UInt64(level)
            let low = (range.lowerBound >> shift) == 0 ? 0 : (range.lowerBound >> shift) - 1
            if let key { try query.bind(1, key.value) }
            try query.bind(first, level)
            try query.bind(first + 1, Int64(bitPattern: low))
            try query.bind(first + 2, Int64(bitPattern: (range.upperBound - 1) >> shift))
            try query.bind(first + 3, Int64(bitPattern: range.upperBound))
            try query.bind(first + 4, Int64(bitPattern: range.lowerBound))
            while try query.step() { body(query) }
            query.reset()
        }
    }
}
