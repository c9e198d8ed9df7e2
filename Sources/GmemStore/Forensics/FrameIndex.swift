/// The overlap index over host frames (`frame_event`): which events named
/// frames [a, b), and which gmem pages a populate put them behind. Binned like
/// `PageSpanIndex`, over frame numbers instead of file pages.
public enum FrameIndex {
    /// Frames an event names: a populate's piece (with the file pages they back), a reuse or a
    /// machine check (no pages).
    public struct Span: Equatable, Sendable {
        /// First to last frame, both included: the last frame, 2^64 − 1, has no successor that
        /// a half-open range could end at.
        public var frames: ClosedRange<UInt64>
        public var gmem: String?
        /// The file page backed by `frames.lowerBound`.
        public var firstPage: UInt64?
    }

    /// An event found by `events(touching:in:)`.
    public struct Hit: Equatable, Sendable {
        public var seq: Int64
        public var span: Span
    }

    /// Frames `first` … `first + count − 1`; nil for none. Frames past 2^64 − 1 do not exist:
    /// a run that a log says goes past it names every frame up to 2^64 − 1 and no more (the
    /// event is stored as given; only its frames stop there).
    public static func frames(from first: UInt64, count: UInt64) -> ClosedRange<UInt64>? {
        guard count > 0 else { return nil }
        let (last, overflow) = first.addingReportingOverflow(count - 1)
        return first...(overflow ? .max : last)
    }

    /// The frame span of `count` pages of a populate whose first page gets frame `pfn`,
    /// starting `offset` pages in; nil when it starts past 2^64 − 1.
    static func frames(populatedFrom pfn: UInt64, pagesIn offset: UInt64, count: UInt64) -> ClosedRange<UInt64>? {
        let (first, overflow) = pfn.addingReportingOverflow(offset)
        return overflow ? nil : frames(from: first, count: count)
    }

    /// The frame spans of `event`, placed the way `Engine.commit` assigns a populate's frames
    /// to its pieces. A populate that did not succeed names its frames without placing them.
    /// Every run stops at frame 2^64 − 1 (`frames(from:count:)`).
    static func spans(of event: Event, verdict: Verdict, fileName: (Int) -> String) -> [Span] {
        var spans: [Span] = []
        switch event.op {
        case .populate(let range, let pfn?):
            let placed = verdict.effectiveOutcome(of: event)?.isOK ?? false
            if verdict.pieces.isEmpty, let frames = frames(from: pfn, count: range.size / pageSize) {
                spans.append(Span(frames: frames, gmem: nil, firstPage: nil))
            }
            for piece in verdict.pieces where !piece.pages.isEmpty {
                // Frames follow the event's addresses, whichever file each piece lands in.
                let offset = (piece.address &- range.address) / pageSize
                guard let frames = frames(populatedFrom: pfn, pagesIn: offset, count: UInt64(piece.pages.count)) else { continue }
                spans.append(Span(frames: frames, gmem: placed ? fileName(piece.file) : nil, firstPage: placed ? piece.pages.lowerBound : nil))
            }
        case .reuse(let pfn, let npages, _):
            if let frames = frames(from: pfn, count: max(npages, 1)) { spans.append(Span(frames: frames, gmem: nil, firstPage: nil)) }
        case .mce(let pfn):
            spans.append(Span(frames: pfn...pfn, gmem: nil, firstPage: nil))
        default:
            break
        }
        return spans
    }

    /// The level a span is filed at: the smallest L at which its first and last frame lie in
    /// the same or adjacent bins of 2^L frames (`PageSpanIndex`).
    static func level(of frames: ClosedRange<UInt64>) -> Int {
        var level = 0
        while (frames.upperBound >> UInt64(level)) - (frames.lowerBound >> UInt64(level)) > 1 { level += 1 }
        return level
    }

    /// The events whose frame spans overlap `frames`, ascending by seq (an event with several
    /// spans once per span). Every frame up to 2^64 - 1 is indexed: the keys are the frame
    /// numbers with the top bit flipped, and a span's upper key is its last frame.
    /// - Complexity: O(levels · log n + k) for k spans found.
    public static func events(touching frames: ClosedRange<UInt64>, in store: Store) throws -> [Hit] {
        let first = ForensicIndexWriter.frameKey(frames.lowerBound)
        let last = ForensicIndexWriter.frameKey(frames.upperBound)
        var hits: [Hit] = []
        let found = try PageSpanIndex.levels(of: "frame_event", key: nil, in: store)
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
                guard lo <= hi else { throw StoreError.storedInput(reason: "frame_event row of seq \(query.int(0)) ends before it starts") }
                let span = Span(frames: lo...hi, gmem: gmem, firstPage: query.optionalInt(4).map { UInt64(bitPattern: $0) })
                hits.append(Hit(seq: query.int(0), span: span))
            }
            query.reset()
        }
        return hits.sorted { ($0.seq, $0.span.frames.lowerBound) < ($1.seq, $1.span.frames.lowerBound) }
    }
}
