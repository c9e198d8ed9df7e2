/// GM-R05: the host hands out a frame that still backs a page the TD has pinned, that is
/// quarantined, or that is still mapped in stage 2.
public struct ReuseOfUnreclaimedFrame: Rule {
    public var id: String { "GM-R05" }
    public var name: String { "reuse-of-unreclaimed-frame" }
    public var defaultSeverity: Severity { .critical }
    public var firesOn: String { "a reuse of a pfn that backs a page still td-pinned, quarantined, or still mapped in stage-2" }
    public var rationale: String { "\"can't this be a DOS from one TD to crash the system if the host uses the private page for something else and the machine #MC's?\" (seed: Ira Weiny)" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        guard case .reuse(let pfn, let npages, let owner) = context.event.op else { return nil }
        let (end, overflow) = pfn.addingReportingOverflow(npages)
        let backed = context.pagesBacked(by: pfn..<(overflow ? UInt64.max : end))
        let unsafe = context.spans(backed, where: { $0.pins.td > 0 || $0.quarantined || $0.mapped })
        guard !unsafe.isEmpty else { return nil }
        let related = context.memory.seqs(in: unsafe) { $0.quarantined }
            + context.memory.seqs(in: unsafe) { $0.tdPin }
            + context.memory.seqs(in: unsafe) { $0.mapped }
        var why: [String] = []
        if !context.spans(unsafe, where: { $0.pins.td > 0 }).isEmpty { why.append("td-pinned") }
        if !context.spans(unsafe, where: { $0.quarantined }).isEmpty { why.append("quarantined") }
        if !context.spans(unsafe, where: { $0.mapped }).isEmpty { why.append("mapped in stage 2") }
        let file = context.state.files[unsafe[0].file]
        return Detection(
            spans: unsafe, related: related,
            message: "frames \(hex(pfn))+\(npages) handed to \(owner ?? "another user") still back \(context.describe(unsafe)), "
                + "which \(unsafe.count == 1 && unsafe[0].pages.count == 1 ? "is" : "are") \(why.joined(separator: " and ")) (vm \(file.vm))",
            vm: file.vm)
    }
}
