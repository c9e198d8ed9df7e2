/// GM-R14: a VM or gmem file went away leaving quarantined pages, and their frames were then
/// handed out again: the REMOVE/WBINVD/RECLAIM "state hole". Known only when the frames are
/// reused, so the finding's trigger is the `reuse`; `related` names the exit and the failed
/// zap that quarantined the pages.
public struct UnsafeQuarantineExit: Rule {
    public var id: String { "GM-R14" }
    public var name: String { "unsafe-quarantine-exit" }
    public var defaultSeverity: Severity { .critical }
    public var firesOn: String { "gmem_close or vm_destroy that leaves quarantined pages whose frames are later reused" }
    public var rationale: String { "the REMOVE/WBINVD/RECLAIM \"state hole\": a page that is either leaked or reused unsafely" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        guard case .reuse(let pfn, let npages, let owner) = context.event.op else { return nil }
        let (end, overflow) = pfn.addingReportingOverflow(npages)
        let backed = context.pagesBacked(by: pfn..<(overflow ? UInt64.max : end))
        let quarantined = context.spans(backed, where: { $0.quarantined })
        let left = context.spans(quarantined, whereMemory: { $0.exit != nil })
        guard !left.isEmpty else { return nil }
        let exits = context.memory.seqs(in: left) { $0.exit }
        let failures = context.memory.seqs(in: left) { $0.quarantined }
        let file = context.state.files[left[0].file]
        return Detection(
            spans: left, related: exits + failures,
            message: "frames \(hex(pfn))+\(npages) handed to \(owner ?? "another user") back quarantined pages \(context.describe(left)) "
                + "that \(context.describe(seqs: exits)) left behind"
                + (failures.isEmpty ? "" : " (quarantined by the failed unmap at \(context.describe(seqs: failures)))")
                + "; the page is either leaked or reused unsafely",
            vm: file.vm)
    }
}
