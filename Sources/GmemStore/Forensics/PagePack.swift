/// The page index packed per bin (schema 3, `page_pack`): the spans a batch filed in one
/// (gmem, level, pack) are one row whose `spans` blob lists them, instead of one row each.
///
/// A span [lo, hi) of event `seq` is filed at level L = `PageSpanIndex.level(of:)`, in pack
/// lo >> max(L + `shift`, `minimumBits`): a pack holds at least 2^`shift` adjacent bins of 2^L
/// pages and at least 2^`minimumBits` pages (64 MiB), so that a batch whose small events are
/// spread over a big file still fills each row with many spans.
/// The blob holds the spans sorted by (seq, lo), each as three unsigned LEB128 varints:
/// seq − the previous span's seq (the first span's seq is the row's `first_seq`, so its
/// delta is 0), lo − the pack's first page (`base(of:level:)`), and hi − lo − 1.
/// A pack never changes once written; a later batch writes its own row for the same
/// (gmem, level, pack), keyed by its first seq.
enum PagePack {
    /// log2 of the bins one pack holds, at every level. Fixed by the schema: a store's packs
    /// are read with the shift they were written with.
    static let shift: UInt64 = 6
    /// log2 of the pages one pack holds at least. Fixed by the schema, like `shift`.
    static let minimumBits: UInt64 = 14

    /// log2 of the pages of one pack at `level`.
    static func bits(_ level: Int) -> UInt64 { max(UInt64(level) + shift, minimumBits) }

    /// One span of a pack.
    struct Span: Equatable {
        var seq: Int64
        var pages: Range<UInt64>
    }

    /// The pack a span [lo, …) at `level` is filed in.
    static func pack(of lo: UInt64, level: Int) -> UInt64 {
        let bits = bits(level)
        return bits >= 64 ? 0 : lo >> bits
    }

    /// The first page of pack `pack` at `level`.
    static func base(of pack: UInt64, level: Int) -> UInt64 {
        let bits = bits(level)
        return bits >= 64 ? 0 : pack << bits
    }

    /// The blob of `spans`, which are sorted by (seq, lo), start at `spans[0].seq` and all lie
    /// in pack `pack` at `level`.
    static func encode(_ spans: some Collection<Span>, level: Int, pack: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(spans.count * 4)
        let base = base(of: pack, level: level)
        var previous = spans.first?.seq ?? 0
        for span in spans {
            append(UInt64(span.seq - previous), to: &bytes)
            append(span.pages.lowerBound - base, to: &bytes)
            append(span.pages.upperBound - span.pages.lowerBound - 1, to: &bytes)
            previous = span.seq
        }
        return bytes
    }

    /// A pack blob that does not decode: it was changed (or cut).
    struct Malformed: Error {}

    /// The spans of a pack's blob, in the order stored. Throws when the blob is not a
    /// sequence of whole span records, or names a page past 2^64.
    static func decode(_ bytes: [UInt8], firstSeq: Int64, level: Int, pack: UInt64) throws(Malformed) -> [Span] {
        var spans: [Span] = []
        var index = 0
        var seq = firstSeq
        let base = base(of: pack, level: level)
        while index < bytes.count {
            let delta = try read(bytes, &index)
            let offset = try read(bytes, &index)
            let length = try read(bytes, &index)
            guard delta <= UInt64(Int64.max), case (let next, false) = seq.addingReportingOverflow(Int64(delta)) else { throw Malformed() }
            seq = next
            guard case (let lo, false) = base.addingReportingOverflow(offset), length < UInt64.max,
                case (let hi, false) = lo.addingReportingOverflow(length + 1)
            else { throw Malformed() }
            spans.append(Span(seq: seq, pages: lo..<hi))
        }
        return spans
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private static func read(_ bytes: [UInt8], _ index: inout Int) throws(Malformed) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < bytes.count, shift < 64 else { throw Malformed() }
            let byte = bytes[index]
            index += 1
            let bits = UInt64(byte & 0x7F)
            guard shift == 63 ? bits <= 1 : true else { throw Malformed() }
            value |= bits << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// Writes `spans` — (gmem id, level, span) in any order — as packs: sorted by key, one row
    /// per (gmem, level, pack) and run of seqs.
    static func write(_ spans: inout [(gmem: Int64, level: Int, span: Span)], to database: Database) throws(SQLiteError) {
        guard !spans.isEmpty else { return }
        spans.sort {
            let left = ($0.gmem, $0.level, pack(of: $0.span.pages.lowerBound, level: $0.level))
            let right = ($1.gmem, $1.level, pack(of: $1.span.pages.lowerBound, level: $1.level))
            if left != right { return left < right }
            return ($0.span.seq, $0.span.pages.lowerBound) < ($1.span.seq, $1.span.pages.lowerBound)
        }
        let insert = try database.cached(
            "INSERT INTO page_pack(gmem, level, pack, first_seq, last_seq, spans) VALUES (?,?,?,?,?,?)")
        var start = spans.startIndex
        while start < spans.endIndex {
            let key = (spans[start].gmem, spans[start].level, pack(of: spans[start].span.pages.lowerBound, level: spans[start].level))
            var end = start + 1
            while end < spans.endIndex, spans[end].gmem == key.0, spans[end].level == key.1,
                pack(of: spans[end].span.pages.lowerBound, level: spans[end].level) == key.2
            {
                end += 1
            }
            // At most `maxSpans` a row, cut between seqs (a row's key is its first seq).
            var cut = start
            while cut < end {
                var stop = min(cut + maxSpans, end)
                while stop < end, spans[stop].span.seq == spans[stop - 1].span.seq { stop += 1 }
                try insert.bind(1, key.0)
                try insert.bind(2, Int64(key.1))
                try insert.bind(3, Int64(bitPattern: key.2))
                try insert.bind(4, spans[cut].span.seq)
                try insert.bind(5, spans[stop - 1].span.seq)
                try insert.bind(6, encode(spans[cut..<stop].lazy.map(\.span), level: key.1, pack: key.2))
                try insert.run()
                cut = stop
            }
            start = end
        }
        spans.removeAll(keepingCapacity: true)
    }
}

extension PagePack {
    /// The `setting` key of the first seq whose conversions carry `returned_early` (the head
    /// + 1 when the store was migrated to schema 3; 1 for a store made by schema 3).
    static let returnedEarlyFromKey = "returned_early_from"

    /// Spans one pack holds at most: a longer run of one (gmem, level, pack) is cut into
    /// several rows (never inside one seq), so that no history decodes a huge blob.
    static let maxSpans = 4096

    /// Migration to schema 3: every `page_event` row becomes a span of a pack, one (gmem,
    /// level, pack) at a time, and `page_event` and its view are dropped.
    static func packSchemaTwoRows(_ database: Database) throws {
        let rows = try database.prepare("SELECT gmem, level, bin, seq, page_lo, page_hi FROM page_event ORDER BY gmem, level, bin, seq, page_lo")
        var group: [(gmem: Int64, level: Int, span: Span)] = []
        var key: (gmem: Int64, level: Int, pack: UInt64)?
        while try rows.step() {
            let level = Int(rows.int(1))
            let lo = UInt64(bitPattern: rows.int(4))
            let hi = UInt64(bitPattern: rows.int(5))
            guard level >= 0, level < 64, lo < hi else {
                throw StoreError.storedInput(reason: "page_event row of seq \(rows.int(3)) is not a span: rebuild the store by exporting and ingesting it")
            }
            let next = (rows.int(0), level, pack(of: lo, level: level))
            if let current = key, current != next { try write(&group, to: database) }
            key = next
            group.append((rows.int(0), level, Span(seq: rows.int(3), pages: lo..<hi)))
        }
        try write(&group, to: database)
        try database.execute("DROP VIEW page_event_view; DROP TABLE page_event")
    }
}
