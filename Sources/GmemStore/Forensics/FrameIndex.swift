/// The overlap index over host frames (`frame_event`, migration 0004): which events named
/// frames [a, b), and which gmem pages a populate put them behind. Binned like
/// `PageSpanIndex`, over frame numbers instead of file pages.
public enum FrameIndex {
    /// Frames an event names: a populate's piece (with the file pages they back), a reuse or a
    /// machine check (no pages).
    public struct Span: Equatable, Sendable {
        public var frames: Range<UInt64>
        public var gmem: String?
        /// The file page backed by `frames.lowerBound`.
        public var firstPage: UInt64?
    }

    /// An event found by `events(touching:in:)`.
    public struct Hit: Equatable, Sendable {
        public var seq: Int64
        public var span: Span
    }

    /// The largest frame number the index holds (exclusive): its columns are signed.
    static let limit: UInt64 = 1 << 63

    /// The frame spans of `event`, placed the way `Engine.commit` assigns a populate's frames
    /// to its pieces. A populate that did not succeed names its frames without placing them.
    static func spans(of event: Event, verdict: Verdict, fileName: (Int) -> String) -> [Span] {
        var spans: [Span] = []
        switch event.op {
        case .populate(let range, let pfn?):
            let placed = (event.result ?? verdict.expected)?.sameResultName(as: "ok") ?? false
            if verdict.pieces.isEmpty, let frames = FrameOwner.frames(from: pfn, count: Int(clamping: range.size / pageSize)), !frames.isEmpty {
                spans.append(Span(frames: frames, gmem: nil, firstPage: nil))
            }
            for piece in verdict.pieces where !piece.pages.isEmpty {
                guard let frames = FrameOwner.frames(from: piece.firstFrame(populating: range, from: pfn), count: piece.pages.count) else { continue }
                spans.append(Span(frames: frames, gmem: placed ? fileName(piece.file) : nil, firstPage: placed ? piece.pages.lowerBound : nil))
            }
        case .reuse(let pfn, let npages, _):
            // As the engine marks them: a run past 2^64 − 1 stops there.
            let (end, overflow) = pfn.addingReportingOverflow(max(npages, 1))
            if pfn < .max { spans.append(Span(frames: pfn..<(overflow ? .max : end), gmem: nil, firstPage: nil)) }
        case .mce(let pfn):
            if let frames = FrameOwner.frames(from: pfn, count: 1) { spans.append(Span(frames: frames, gmem: nil, firstPage: nil)) }
        default:
            break
        }
        return spans
    }

    /// True for a span the index holds: frames below 2^63 (its columns are signed). The others
    /// are found by reading the bodies.
    static func isIndexed(_ span: Span) -> Bool { span.frames.upperBound <= limit }

    static func record(_ spans: [Span], seq: Int64, in store: Store) throws(SQLiteError) {
        let spans = spans.filter(isIndexed)
        guard !spans.isEmpty else { return }
        let insert = try store.database.cached(
            "INSERT OR IGNORE INTO frame_event(level, bin, seq, pfn_lo, pfn_hi, gmem, page_lo) VALUES (?,?,?,?,?,?,?)")
        for span in spans {
            let level = PageSpanIndex.level(of: span.frames)
            try insert.bind(1, Int64(level))
            try insert.bind(2, Int64(span.frames.lowerBound >> UInt64(level)))
            try insert.bind(3, seq)
            try insert.bind(4, Int64(span.frames.lowerBound))
            try insert.bind(5, Int64(span.frames.upperBound))
            try insert.bind(6, span.gmem)
            try insert.bind(7, span.firstPage.map { Int64(bitPattern: $0) })
            try insert.run()
        }
    }

    /// The events whose frame spans overlap `frames`, ascending by seq (an event with several
    /// spans once per span).
    /// - Complexity: O(levels · log n + k) for k spans found.
    public static func events(touching frames: Range<UInt64>, in store: Store) throws(SQLiteError) -> [Hit] {
        var hits: [Hit] = []
        try PageSpanIndex.forEachOverlap(
            of: frames.clamped(to: 0..<limit), table: "frame_event", key: nil, bounds: ("pfn_lo", "pfn_hi"),
            columns: "seq, pfn_lo, pfn_hi, gmem, page_lo", in: store
        ) { row in
            let span = Span(
                frames: UInt64(row.int(1))..<UInt64(row.int(2)), gmem: row.optionalString(3),
                firstPage: row.optionalInt(4).map { UInt64(bitPattern: $0) })
            hits.append(Hit(seq: row.int(0), span: span))
        }
        return hits.sorted { ($0.seq, $0.span.frames.lowerBound) < ($1.seq, $1.span.frames.lowerBound) }
    }
}
