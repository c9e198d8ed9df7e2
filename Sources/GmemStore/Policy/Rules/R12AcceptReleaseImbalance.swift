/// GM-R12: ACCEPT and RELEASE that do not pair up: a page accepted twice, or a TD release of a
/// page the TD has not pinned.
public struct AcceptReleaseImbalance: Rule {
    public var id: String { "GM-R12" }
    public var name: String { "accept-release-imbalance" }
    public var defaultSeverity: Severity { .warning }
    public var firesOn: String { "accept of an accepted page (stale-data risk), release holder=td without a pin" }
    public var rationale: String { "re-accept \"can mislead the guest into believing re-accepted memory is zeroed\"" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        switch context.event.op {
        case .accept:
            let accepted = context.spans(where: { $0.accepted })
            guard !accepted.isEmpty else { return nil }
            let related = context.memory.seqs(in: accepted) { $0.accepted }
            return Detection(
                spans: accepted, related: related,
                message: "accept of pages already accepted: \(context.describe(accepted))"
                    + (related.isEmpty ? "" : " (accepted at \(context.describe(seqs: related)))")
                    + "; the guest may believe re-accepted memory is zeroed")
        case .release(_, .td):
            let unpinned = context.spans(where: { $0.pins.td == 0 })
            guard !unpinned.isEmpty else { return nil }
            let related = context.memory.seqs(in: unpinned) { $0.tdRelease }
            return Detection(
                spans: unpinned, related: related,
                message: "release holder=td of pages the TD has not pinned: \(context.describe(unpinned))"
                    + (related.isEmpty ? "" : " (already released at \(context.describe(seqs: related)))"))
        default:
            return nil
        }
    }
}
