/// GM-R06: a conversion to private over pages the host still holds references to; the kernel
/// answers EAGAIN (kvm_gmem_has_safe_refcount() fails).
public struct ConvertWithElevatedRefcount: Rule {
    public var id: String { "GM-R06" }
    public var name: String { "convert-with-elevated-refcount" }
    public var defaultSeverity: Severity { .warning }
    public var firesOn: String { "a convert to=private over pages with iommu/vfio/gup pins (the kernel answers EAGAIN)" }
    public var rationale: String { "kvm_gmem_has_safe_refcount() fails when the IOMMU holds folio references (seed: Alexey Kardashevskiy)" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        guard case .convert(_, .private) = context.event.op else { return nil }
        if let facts = context.pageFacts, !facts.hostPinned { return nil }
        let referenced = context.spans(where: { $0.pins.hasHostPin })
        guard !referenced.isEmpty else { return nil }
        let related = context.memory.seqs(in: referenced) { $0.dmaPin } + context.memory.seqs(in: referenced) { $0.gupPin }
        return Detection(
            spans: referenced, related: related,
            message: "conversion to private of pages with extra host references: \(context.describe(referenced))"
                + (related.isEmpty ? "" : " (pinned at \(context.describe(seqs: Array(Set(related)).sorted())))")
                + "; the kernel answers EAGAIN")
    }
}
