/// The auditor's fold of one commit into its memory (`AuditMemory.Fold`), with the `released`
/// transitions of a release joined before they reach the memory's page map.
///
/// A release hands the fold one `released` per run of the state it leaves (4.2 on the
/// generator's workload; half of all the memory's page-map updates). What a `released` does to
/// a page's memory depends only on the holder and on three facts of the pins it leaves: none
/// of the TD's, none of the IOMMU's or VFIO's, none of GUP's. Touching spans of one file with
/// the same holder and facts are joined, and folded as one `released` over their union, with
/// the pins of the first (which have the same facts): the same change, page by page, with one
/// search and one compaction of the map instead of one per run. Any other transition folds the
/// joined span first, so the memory sees every change in the engine's order; `finish()` folds
/// the last one after the commit.
struct BatchedFold: TransitionFold, Sendable {
    var fold: AuditMemory.Fold
    /// The joined `released` not yet folded.
    private var pending: (span: FileSpan, holder: Holder, remaining: Pins)?

    init(memory: AuditMemory, seq: Int64) {
        fold = AuditMemory.Fold(memory: memory, seq: seq)
    }

    /// True when releases leaving `a` and `b` change a page's memory the same way.
    static func sameEffect(_ a: Pins, _ b: Pins) -> Bool {
        (a.td == 0) == (b.td == 0)
            && (a.iommu == 0 && a.vfio == 0) == (b.iommu == 0 && b.vfio == 0)
            && (a.gup == 0) == (b.gup == 0)
    }

    mutating func fold(_ transition: Transition) {
        if case .released(let span, let holder, let remaining) = transition {
            if let open = pending, open.holder == holder, open.span.file == span.file,
                open.span.pages.upperBound == span.pages.lowerBound, Self.sameEffect(open.remaining, remaining)
            {
                pending!.span.pages = open.span.pages.lowerBound..<span.pages.upperBound
                return
            }
            finish()
            pending = (span, holder, remaining)
            return
        }
        finish()
        fold.fold(transition)
    }

    /// Folds the joined `released` still open: call it after the commit, before the memory is read.
    mutating func finish() {
        guard let open = pending else { return }
        pending = nil
        fold.fold(.released(open.span, holder: open.holder, remaining: open.remaining))
    }
}
