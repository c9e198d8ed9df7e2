extension Engine {
    /// Applies `event` with the outcome the store recorded for it, instead of the one this
    /// engine would compute. For a sparse replay (a page's history): the engine sees only the
    /// events that change VMs, bindings or files, and those of the pages asked about, so its
    /// other pages are stale and its own expected outcome may differ; the state change of the
    /// pages asked about is still exact, because it depends only on the event, the recorded
    /// outcome, the resolved pieces (VMs, bindings and files are exact) and those pages' own
    /// state (which pages of the range block a zap).
    @discardableResult
    ///
    /// `returnedEarly` is the recorded answer to whether a `convert` returned early
    /// (`Verdict.returnedEarly`, the event's `returned_early` column): the full state knew the
    /// whole range, a sparse one may not. nil (a row stored before schema 3) decides it from
    /// this engine's state, which is exact only where every page of the range is followed.
    public mutating func replay(
        _ event: Event, expected: String?, expectedErrorOffset: Int64?, diverged: Bool, returnedEarly: Bool? = nil
    ) -> Verdict {
        var verdict = evaluate(event)
        if case .convert(_, .private) = event.op {
            // The model checks host pins before the zap rule: the recorded outcome says which
            // path the full state took.
            let recordedEAGAIN = Outcome(expected) == .EAGAIN
            if recordedEAGAIN {
                verdict.blocked = []
            } else if verdict.expectedOutcome == .EAGAIN {
                _ = removalOutcome(&verdict, reportsFailure: false)
            }
        }
        if case .convert(_, let to) = event.op, returnedEarly == false, verdict.kernel.unchangedConversionReturnsEarly,
            !verdict.refused, Outcome(expected) != .EAGAIN, verdict.blocked.isEmpty,
            !verdict.pieces.contains(where: { state.files[$0.file].pages.firstPage(in: $0.pages, where: { $0.shareability != to }) != nil })
        {
            // This state takes the range for unchanged (its pages not followed are stale); the
            // full state did not, so the conversion attempted its S-EPT removals.
            verdict.blocked = blockedPieces(verdict.pieces, verdict.kernel)
        }
        if case .convert = event.op, !verdict.kernel.failedRemovalStopsTheOperation, !verdict.refused,
            Outcome(expected) == .EIO
        {
            // Under upstream-2026 a conversion the VM does not refuse is never expected to fail:
            // the recorded EIO says it went through the VM ioctl (`via: vm`) of a bugged VM,
            // which the page index's compact form does not keep.
            verdict.refused = true
            verdict.blocked = []
        }
        verdict.expected = expected
        verdict.expectedErrorOffset = expectedErrorOffset.map { UInt64(bitPattern: $0) }
        verdict.diverged = diverged
        if case .convert(_, let to) = event.op { verdict.returnedEarly = returnedEarly ?? returnsEarly(event, verdict, to: to) }
        commit(event, verdict)
        return verdict
    }
}
