/// GM-R10: DMA mappings out of order with conversions: a device mapping of a private page, or a
/// conversion to private while a device still maps the page.
public struct DMAOrdering: Rule {
    public var id: String { "GM-R10" }
    public var name: String { "dma-ordering" }
    public var defaultSeverity: Severity { .warning }
    public var firesOn: String { "an iommu/vfio pin of a private page, or a convert to=private while such a pin is held" }
    public var rationale: String { "shared device assignment needs unmap-before-conversion-to-private and map-after-conversion-to-shared" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        switch context.event.op {
        case .pin(_, let holder) where holder == .iommu || holder == .vfio:
            let privatePages = context.spans(where: { $0.shareability == .private })
            guard !privatePages.isEmpty else { return nil }
            let related = context.memory.seqs(in: privatePages) { $0.madePrivate }
            return Detection(
                spans: privatePages, related: related,
                message: "DMA map (holder=\(holder.rawValue)) of private pages \(context.describe(privatePages)); map only after the conversion to shared"
                    + (related.isEmpty ? "" : " (private since \(context.describe(seqs: related)))"))
        case .convert(_, .private):
            if let facts = context.pageFacts, !facts.dmaMapped { return nil }
            let mapped = context.spans(where: { $0.pins.iommu > 0 || $0.pins.vfio > 0 })
            guard !mapped.isEmpty else { return nil }
            let related = context.memory.seqs(in: mapped) { $0.dmaPin }
            return Detection(
                spans: mapped, related: related,
                message: "conversion to private while a device still maps \(context.describe(mapped))"
                    + (related.isEmpty ? "" : " (DMA-mapped at \(context.describe(seqs: related)))") + "; unmap the DMA first")
        default:
            return nil
        }
    }
}
