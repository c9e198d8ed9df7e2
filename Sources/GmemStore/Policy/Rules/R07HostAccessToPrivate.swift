/// GM-R07: the host touches private pages through mmap. They must SIGBUS; when the log says
/// the access worked, the page was readable and the finding is critical.
public struct HostAccessToPrivate: Rule {
    public var id: String { "GM-R07" }
    public var name: String { "host-access-to-private" }
    public var defaultSeverity: Severity { .error }
    public var firesOn: String { "a host_access to a private page, or to a quarantined page; critical when its observed result is ok (the page was readable)" }
    public var rationale: String { "private pages must SIGBUS on host access (guest_memfd selftests); a quarantined page's frame is still private to the TDX module and can machine-check the host" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        guard case .hostAccess = context.event.op else { return nil }
        // A quarantined page may read as shared to guest_memfd; the TDX module still holds it private.
        let privatePages = context.spans(where: { $0.shareability == .private || $0.quarantined })
        guard !privatePages.isEmpty else { return nil }
        let related = context.memory.seqs(in: privatePages) { $0.madePrivate }
        let readable = context.observedOK
        return Detection(
            spans: privatePages, related: related,
            message: "host access to private pages \(context.describe(privatePages))"
                + (readable ? ": the log says it succeeded, so private memory was readable by the host" : ", answered \(context.effectiveResult ?? "nothing")")
                + (related.isEmpty ? "" : " (private since \(context.describe(seqs: related)))"),
            severity: readable ? .critical : nil)
    }
}
