/// GM-R01: a conversion to shared, asked by the guest or done by the host, of pages the TD
/// still has pinned. The guest must call tdg.mem.page.release before KVM_HC_MAP_GPA_RANGE.
public struct ConvertPinnedToShared: Rule {
    public var id: String { "GM-R01" }
    public var name: String { "convert-pinned-to-shared" }
    public var defaultSeverity: Severity { .critical }
    public var firesOn: String { "a convert_request to=shared or convert to=shared covering a page the TD still has pinned (td pin, no release holder=td since)" }
    public var rationale: String { "the guest must call tdg.mem.page.release before KVM_HC_MAP_GPA_RANGE; if it doesn't, by mistake or maliciously, the unmap fails (seed thread: Xu Yilun, Ira Weiny)" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        let what: String
        switch context.event.op {
        case .convertRequest(_, _, _, .shared, _): what = "the guest asks to convert to shared"
        case .convert(_, .shared): what = "conversion to shared of"
        default: return nil
        }
        if let facts = context.pageFacts, !facts.tdPinned { return nil }
        let pinned = context.spans(where: { $0.pins.td > 0 })
        guard !pinned.isEmpty else { return nil }
        let related = context.memory.seqs(in: pinned) { $0.tdPin }
        let since = related.isEmpty ? "never released" : "pinned at \(context.describe(seqs: related)), never released"
        return Detection(
            spans: pinned, related: related,
            message: "\(what) pages the TD has pinned for DMA: \(context.describe(pinned)) (\(since))")
    }
}
