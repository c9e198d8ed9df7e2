/// GM-R08: pins that can never be dropped: a VM or gmem file torn down while its pages are
/// pinned, or a host holder releasing a pin it does not hold.
public struct PinLeak: Rule {
    public var id: String { "GM-R08" }
    public var name: String { "pin-leak" }
    public var defaultSeverity: Severity { .error }
    public var firesOn: String { "a vm_destroy or gmem_close while pins are held on its pages; a release of a host holder (iommu, vfio, gup) with no matching pin" }
    public var rationale: String { "pinned private memory never reclaimed is \"an open hole for guests to leak a host's memory\" (thread: Ackerley Tng)" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        switch context.event.op {
        case .vmDestroy, .gmemClose:
            guard context.succeeded else { return nil }
            let pinned = context.spans(where: { !$0.pins.isEmpty })
            guard !pinned.isEmpty else { return nil }
            let related = context.memory.seqs(in: pinned) { $0.tdPin } + context.memory.seqs(in: pinned) { $0.dmaPin }
                + context.memory.seqs(in: pinned) { $0.gupPin }
            return Detection(
                spans: pinned, related: related,
                message: "\(context.event.op.name) while pages are still pinned: \(context.describe(pinned))"
                    + (related.isEmpty ? "" : " (pinned at \(context.describe(seqs: Array(Set(related)).sorted())))")
                    + "; those frames can never be reclaimed")
        case .release(_, let holder) where holder.isHost:
            let unpinned = context.spans(where: { $0.pins[holder] == 0 })
            guard !unpinned.isEmpty else { return nil }
            return Detection(
                spans: unpinned, related: [],
                message: "release holder=\(holder.rawValue) of pages it never pinned: \(context.describe(unpinned)); the pin it meant to drop is held elsewhere or was never recorded")
        default:
            return nil
        }
    }
}
