/// The state of the pages one event concerns, read once: the runs of the engine state over the
/// event's pieces, clipped to them, in piece order. Several rules ask about the same pages of
/// one event (a conversion to shared: GM-R01, GM-R02, GM-R04; to private: GM-R06, GM-R10),
/// each with its own predicate; with this they filter one short list instead of each searching
/// the file's page map again (`RuleContext.spans(where:)`).
struct EventPages {
    /// One run of one piece: pages `pages` of file `file` all have `state`.
    struct Run {
        var file: Int
        var pages: Range<UInt64>
        var state: PageState
    }

    /// The clipped runs, piece after piece, each piece's in page order.
    private(set) var runs: [Run] = []

    /// The runs of `state` over `pieces`.
    init(_ pieces: [Piece], in state: GmemState) {
        for piece in pieces {
            state.files[piece.file].pages.forEachRun(in: piece.pages) { run in
                runs.append(Run(file: piece.file, pages: run.range, state: run.value))
                return true
            }
        }
    }

    /// The merged runs whose state satisfies `predicate`: a run is joined to the span before it
    /// when both are of the same file and touch, across pieces too. The spans that
    /// `RuleContext.spans(of:where:)` gives for the same pieces.
    func spans(where predicate: (PageState) -> Bool) -> [FileSpan] {
        var result: [FileSpan] = []
        for run in runs where predicate(run.state) {
            if let last = result.last, last.file == run.file, last.pages.upperBound == run.pages.lowerBound {
                result[result.count - 1].pages = last.pages.lowerBound..<run.pages.upperBound
            } else {
                result.append(FileSpan(file: run.file, pages: run.pages))
            }
        }
        return result
    }

    /// True for the events whose pieces more than one catalog rule reads: a conversion, in
    /// either direction. For any other event at most one rule walks its pieces (GM-R03 and
    /// GM-R09 only when they fire), and collecting the runs first would cost more than it saves.
    static func areShared(by op: Operation) -> Bool {
        if case .convert = op { return true }
        return false
    }
}
