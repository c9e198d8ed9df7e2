/// GM-R02: a zap of mapped pages the TD has pinned. The TDX module refuses the S-EPT unmap;
/// guest_memfd should refuse before attempting it.
public struct ZapOfTDPinned: Rule {
    public var id: String { "GM-R02" }
    public var name: String { "zap-of-td-pinned" }
    public var defaultSeverity: Severity { .error }
    public var firesOn: String { "a zap, punch_hole, unbind or to-shared convert whose range holds a mapped, td-pinned page; under upstream-2026, any event whose S-EPT removal of a TD-held page fails (also a mixed to-private convert and gmem_close)" }
    public var rationale: String { "the TDX module refuses the S-EPT unmap; guest_memfd should refuse before attempting it (seed: Yan Zhao)" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        let blocked: [FileSpan]
        if context.verdict.kernel.failedRemovalStopsTheOperation {
            switch context.event.op {
            case .zap, .punchHole, .unbind, .convert(_, .shared): break
            default: return nil
            }
            blocked = context.spans(where: context.verdict.kernel.removalFails)
        } else {
            // The removals the event really attempts, as the engine found them.
            blocked = context.spans(of: context.verdict.blocked, where: { _ in true })
        }
        guard !blocked.isEmpty else { return nil }
        let related = context.memory.seqs(in: blocked) { $0.tdPin }
        return Detection(
            spans: blocked, related: related,
            message: "\(context.event.op.name) of mapped pages the TD has pinned: \(context.describe(blocked)); "
                + "TDH.MEM.RANGE.BLOCK refuses them" + (related.isEmpty ? "" : " (pinned at \(context.describe(seqs: related)))"))
    }
}
