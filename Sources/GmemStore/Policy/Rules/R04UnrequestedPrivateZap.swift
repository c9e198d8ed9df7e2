/// GM-R04: the host unmaps a mapped private page the guest never asked to convert. The unmap
/// works and the guest is broken.
public struct UnrequestedPrivateZap: Rule {
    public var id: String { "GM-R04" }
    public var name: String { "unrequested-private-zap" }
    public var defaultSeverity: Severity { .error }
    public var firesOn: String { "a successful zap/punch_hole/convert to=shared of a mapped private page with no guest convert_request to=shared covering it, outside VM teardown" }
    public var rationale: String { "\"if the host unmaps a guest private page … without the guest requesting it, the unmapping will work and the guest will be broken\" (seed: Ackerley Tng, Xu Yilun)" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        switch context.event.op {
        case .zap(_, let reason) where reason != "teardown": break
        case .punchHole, .convert(_, .shared): break
        default: return nil
        }
        guard context.succeeded else { return nil }
        // A dead VM's pages are being torn down: no guest is left to break.
        if let vm = context.verdict.vm, context.state.vms[vm]?.life.isDead == true { return nil }
        if let facts = context.pageFacts, !facts.privateMappedUnrequested { return nil }
        let unrequested = context.spans(where: { $0.shareability == .private && $0.mapped && $0.requested != .shared })
        guard !unrequested.isEmpty else { return nil }
        let related = context.memory.seqs(in: unrequested) { $0.mapped }
        return Detection(
            spans: unrequested, related: related,
            message: "\(context.event.op.name) unmapped private pages the guest still uses and never asked to share: "
                + "\(context.describe(unrequested))" + (related.isEmpty ? "" : " (mapped at \(context.describe(seqs: related)))"))
    }
}
