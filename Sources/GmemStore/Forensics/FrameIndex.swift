/// The overlap index over host frames (`frame_event`): which events named
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

    /// The frame spans of `event`, placed the way `Engine.commit` assigns a populate's frames
    /// to its pieces. A populate that did not succeed names its frames without placing them.
    static func spans(of event: Event, verdict: Verdict, fileName: (Int) -> String) -> [Span] {
        var spans: [Span] = []
        switch event.op {
        case .populate(let range, let pfn?):
            let placed = verdict.effectiveOutcome(of: event)?.isOK ?? false
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

    /// The events whose frame spans overlap `frames`, ascending by seq (an event with several
    /// spans once per span). Every frame up to 2^64 - 1 is indexed: the keys are the frame
    /// numbers with the top bit flipped, and a span's upper key is its last frame.
    /// - Complexity: O(levels · log n + k) for k spans found.
    public static func events(touching frames: Range<UInt64>, in store: Store) throws -> [Hit] {
        guard !frames.isEmpty else { return [] }
        let first = ForensicIndexWriter.frameKey(frames.lowerBound)
        let last = ForensicIndexWriter.frameKey(frames.upperBound - 1)
        var hits: [Hit] = []
        // The levels in use, each found by one seek past the last (no scan of the index).
        let next = try store.database.cached("SELECT min(level) FROM frame_event WHERE level > ?")
        var found: [Int64] = []
        var level: Int64 = -1
        while true {
            try next.bind(1, level)
            guard try next.step(), let value = next.optionalInt(0) else { break }
            next.reset()
            found.append(value)
            level = value
        }
        next.reset()
        let query = try store.database.cached(
            "SELECT seq, pfn_lo, pfn_hi, gmem, page_lo FROM frame_event WHERE level = ? AND bin BETWEEN ? AND ? AND pfn_lo <= ? AND pfn_hi >= ?")
        defer { query.reset() }
        for level in found {
            let low = first >> level
            try query.bind(1, level)
            try query.bind(2, low == Int64.min >> level ? low : low - 1)
            try query.bind(3, last >> level)
            try query.bind(4, last)
            try query.bind(5, first)
            while try query.step() {
                let gmem = try query.optionalInt(3).map { id -> String in
                    guard let text = store.names.text(id) else { throw StoreError.storedInput(reason: "frame_event names an unknown name id \(id)") }
                    return text
                }
                let lo = ForensicIndexWriter.frame(key: query.int(1))
                let hi = ForensicIndexWriter.frame(key: query.int(2))
                let span = Span(frames: lo..<(hi == .max ? .max : hi + 1), gmem: gmem, firstPage: query.optionalInt(4).map { UInt64(bitPattern: $0) })
                hits.append(Hit(seq: query.int(0), span: span))
            }
            query.reset()
        }
        return hits.sorted { ($0.seq, $0.span.frames.lowerBound) < ($1.seq, $1.span.frames.lowerBound) }
    }
}
