/// The overlap index over the page ranges events resolved to (`page_event`, migrations 0003 and
/// 0004): answers "which events touched pages [a, b) of this gmem" with one B-tree range seek
/// per level instead of a scan of the log, and hands back each event's form with it.
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

    /// An event whose resolved pages overlap the query: its seq and, when the index row has
    /// one, its `EventForm` bytes.
    public struct Hit {
        public var seq: Int64
        public var form: [UInt8]?
    }

    /// The events whose resolved pages overlap `pages` of `gmem`, ascending by seq, once each.
    public static func events(touching pages: Range<UInt64>, of gmem: String, in store: Store) throws(SQLiteError) -> [Hit] {
        guard !pages.isEmpty else { return [] }
        var presentLevels: [Int] = []
        // The distinct levels of one gmem, found by skipping from level to level.
        let next = try store.database.cached("SELECT min(level) FROM page_event WHERE gmem = ? AND level > ?")
        defer { next.reset() }
        var level: Int64 = -1
        while true {
            try next.bind(1, gmem)
            try next.bind(2, level)
            guard try next.step(), let found = next.optionalInt(0) else { break }
            presentLevels.append(Int(found))
            level = found
            next.reset()
        }
        let query = try store.database.cached(
            "SELECT seq, form FROM page_event WHERE gmem = ? AND level = ? AND bin BETWEEN ? AND ? AND page_lo < ? AND page_hi > ?")
        defer { query.reset() }
        var hits: [Hit] = []
        for level in presentLevels {
            let shift = UInt64(level)
            let low = (pages.lowerBound >> shift) == 0 ? 0 : (pages.lowerBound >> shift) - 1
            try query.bind(1, gmem)
            try query.bind(2, Int64(level))
            try query.bind(3, Int64(bitPattern: low))
            try query.bind(4, Int64(bitPattern: (pages.upperBound - 1) >> shift))
            try query.bind(5, Int64(bitPattern: pages.upperBound))
            try query.bind(6, Int64(bitPattern: pages.lowerBound))
            while try query.step() { hits.append(Hit(seq: query.int(0), form: query.optionalBlob(1))) }
            query.reset()
        }
        hits.sort { $0.seq < $1.seq }
        var unique: [Hit] = []
        unique.reserveCapacity(hits.count)
        for hit in hits where unique.last?.seq != hit.seq { unique.append(hit) }
        return unique
    }
}
