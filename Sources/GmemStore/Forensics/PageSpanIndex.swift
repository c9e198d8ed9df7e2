/// The overlap index over the page ranges events resolved to (`page_pack`, packed per bin by
/// `PagePack`): answers "which events touched pages [a, b) of this gmem" with one B-tree range
/// seek per level instead of a scan of the log.
///
/// A span [lo, hi) is filed at the smallest level L at which it lies within two adjacent bins
/// of 2^L pages, in bin lo >> L. If it overlaps [a, b) then lo < b and hi - 1 >= a, so its bin
/// is at least (a >> L) - 1 and at most (b - 1) >> L: the query reads that bin range at every
/// level and keeps the spans that really overlap.
/// - Complexity: O(levels · log n + k) for k spans decoded, with at most 53 levels.
public enum PageSpanIndex {
    /// The level a span is filed at.
    public static func level(of pages: Range<UInt64>) -> Int {
        precondition(!pages.isEmpty)
        var level = 0
        while ((pages.upperBound - 1) >> UInt64(level)) - (pages.lowerBound >> UInt64(level)) > 1 { level += 1 }
        return level
    }

    /// The seqs of the events whose resolved pages overlap `pages` of `gmem`, ascending, once each.
    public static func events(touching pages: Range<UInt64>, of gmem: String, in store: Store) throws -> [Int64] {
        var seqs = try spans(touching: pages, of: gmem, in: store).map(\.seq)
        seqs.sort()
        var unique: [Int64] = []
        unique.reserveCapacity(seqs.count)
        for seq in seqs where unique.last != seq { unique.append(seq) }
        return unique
    }

    /// The spans of `gmem` that overlap `pages`, each with its event's seq (an event that
    /// resolved to several spans of the file gives one each), in no particular order: at each
    /// level the gmem uses, the packs that hold the bins a span overlapping `pages` can sit in
    /// (`PagePack`), decoded, and their spans that really overlap.
    public static func spans(touching pages: Range<UInt64>, of gmem: String, in store: Store) throws -> [(seq: Int64, pages: Range<UInt64>)] {
        guard !pages.isEmpty, let id = try store.names.existingID(for: gmem) else { return [] }
        var spans: [(seq: Int64, pages: Range<UInt64>)] = []
        let query = try store.database.cached(
            "SELECT pack, first_seq, spans FROM page_pack WHERE gmem = ? AND level = ? AND pack BETWEEN ? AND ?")
        defer { query.reset() }
        for level in try levels(of: "page_pack", key: ("gmem", id), in: store) {
            guard level >= 0, level < 64 else { throw StoreError.storedInput(reason: "page_pack names level \(level): it was changed") }
            let shift = UInt64(level)
            let low = (pages.lowerBound >> shift) == 0 ? 0 : (pages.lowerBound >> shift) - 1
            let high = (pages.upperBound - 1) >> shift
            try query.bind(1, id)
            try query.bind(2, level)
            try query.bind(3, Int64(bitPattern: PagePack.pack(of: low << shift, level: Int(level))))
            try query.bind(4, Int64(bitPattern: PagePack.pack(of: high << shift, level: Int(level))))
            while try query.step() {
                let pack = UInt64(bitPattern: query.int(0))
                let decoded: [PagePack.Span]
                do {
                    decoded = try PagePack.decode(query.blob(2), firstSeq: query.int(1), level: Int(level), pack: pack)
                } catch {
                    throw StoreError.storedInput(reason: "the page_pack row of seq \(query.int(1)) does not decode: it was changed")
                }
                for span in decoded where span.pages.overlaps(pages) { spans.append((span.seq, span.pages)) }
            }
            query.reset()
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
}
