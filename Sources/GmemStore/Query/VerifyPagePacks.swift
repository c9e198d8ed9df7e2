/// `verify`'s view of the packed page index (`page_pack`, `PagePack`): the span an event
/// resolved to is looked up in the pack that must hold it, each pack decoded once (a bounded
/// cache, so a long log's index is never held whole), and every pack is checked on its own.
struct PackLookup {
    let store: Store
    private var decoded: [Key: [SpanKey: [UInt64]]] = [:]
    private static let cacheLimit = 8192

    private struct Key: Hashable {
        var gmem: Int64
        var level: Int
        var pack: UInt64
        var firstSeq: Int64
    }

    private struct SpanKey: Hashable {
        var seq: Int64
        var lo: UInt64
    }

    init(store: Store) {
        self.store = store
    }

    /// The ends of the spans of event `seq` that start at page `lo` of gmem id `gmem` at
    /// `level`, as its pack holds them (more than one when the event touched two files of one
    /// name at the same offset); empty when the pack holds none (or does not decode).
    mutating func ends(of lo: UInt64, seq: Int64, gmem: Int64, level: Int) throws -> [UInt64] {
        let pack = PagePack.pack(of: lo, level: level)
        let row = try store.database.cached(
            "SELECT first_seq, spans FROM page_pack WHERE gmem = ? AND level = ? AND pack = ? AND first_seq <= ? ORDER BY first_seq DESC LIMIT 1")
        defer { row.reset() }
        try row.bind(1, gmem)
        try row.bind(2, Int64(level))
        try row.bind(3, Int64(bitPattern: pack))
        try row.bind(4, seq)
        guard try row.step() else { return [] }
        let key = Key(gmem: gmem, level: level, pack: pack, firstSeq: row.int(0))
        if decoded[key] == nil {
            if decoded.count >= Self.cacheLimit { decoded.removeAll(keepingCapacity: true) }
            var spans: [SpanKey: [UInt64]] = [:]
            for span in (try? PagePack.decode(row.blob(1), firstSeq: key.firstSeq, level: level, pack: pack)) ?? [] {
                spans[SpanKey(seq: span.seq, lo: span.pages.lowerBound), default: []].append(span.pages.upperBound)
            }
            decoded[key] = spans
        }
        return decoded[key]![SpanKey(seq: seq, lo: lo)] ?? []
    }

    /// Checks every pack on its own — it decodes, its spans ascend from `first_seq` to
    /// `last_seq`, and each span is filed at its level and in its pack — and returns how many
    /// spans the packs hold.
    func checkAll(problem: Verifier.Problem) throws -> Int64 {
        let rows = try store.database.prepare("SELECT gmem, level, pack, first_seq, last_seq, spans FROM page_pack ORDER BY first_seq")
        var count: Int64 = 0
        while try rows.step() {
            let level = rows.int(1)
            let first = rows.int(3)
            guard level >= 0, level < 64 else {
                problem(first, "the page pack of seqs \(first)… is filed at level \(level): it was changed")
                continue
            }
            let pack = UInt64(bitPattern: rows.int(2))
            guard let spans = try? PagePack.decode(rows.blob(5), firstSeq: first, level: Int(level), pack: pack), let last = spans.last else {
                problem(first, "the page pack of seqs \(first)… does not decode: it was changed")
                continue
            }
            count += Int64(spans.count)
            if last.seq != rows.int(4) {
                problem(first, "the page pack of seqs \(first)…\(rows.int(4)) ends at seq \(last.seq): it was changed")
            }
            for (index, span) in spans.enumerated() {
                // Two spans of one seq may start at one page: two files of one name, both touched.
                let ordered = index == 0 || (spans[index - 1].seq, spans[index - 1].pages.lowerBound) <= (span.seq, span.pages.lowerBound)
                if !ordered || PageSpanIndex.level(of: span.pages) != Int(level) || PagePack.pack(of: span.pages.lowerBound, level: Int(level)) != pack {
                    problem(span.seq, "the page pack of seqs \(first)… holds a span out of order or out of its bin: it was changed")
                    break
                }
            }
        }
        return count
    }
}

extension Store {
    /// The first seq whose conversions carry `returned_early` (`PagePack.returnedEarlyFromKey`).
    func returnedEarlyFrom() throws -> Int64 {
        let statement = try database.cached("SELECT value FROM setting WHERE key = '\(PagePack.returnedEarlyFromKey)'")
        defer { statement.reset() }
        guard try statement.step(), let seq = Int64(statement.string(0)) else { return .max }
        return seq
    }
}
