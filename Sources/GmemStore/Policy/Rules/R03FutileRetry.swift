/// GM-R03: a zap or conversion retried on pages where the last attempt failed, while its cause
/// (the TD's pin, or a host reference) still stands.
public struct FutileRetry: Rule {
    public var id: String { "GM-R03" }
    public var name: String { "futile-retry" }
    public var defaultSeverity: Severity { .warning }
    public var firesOn: String { "a zap or convert of a range after one that failed on the same cause, with no release/unpin of that cause in between" }
    public var rationale: String { "\"it also doesn't help for host to retry unmapping without unpinning from TD\" (seed: Yan Zhao); repeated EAGAIN on the same error_offset" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        // Which causes this op would meet again: every zap meets the TD's pin; only a
        // conversion to private meets the host's references.
        let meetsHostPins: Bool
        switch context.event.op {
        case .zap, .convert(_, .shared): meetsHostPins = false
        case .convert(_, .private): meetsHostPins = true
        default: return nil
        }
        let standing: (PageMemory) -> Bool = {
            $0.failure != nil && ($0.failureCause == .tdPin || ($0.failureCause == .hostPin && meetsHostPins))
        }
        // Most zaps and conversions meet no standing failure: look at the event's pages before
        // building their spans.
        guard context.pieces.contains(where: { context.memory.contains(file: $0.file, pages: $0.pages, where: standing) }) else {
            return nil
        }
        let retried = context.spans(context.allSpans, whereMemory: standing)
        guard !retried.isEmpty else { return nil }
        let failures = context.memory.seqs(in: retried) { $0.failure }
        let causes = context.memory.seqs(in: retried) { page in
            page.failureCause == .tdPin ? page.tdPin : (page.dmaPin ?? page.gupPin)
        }
        var message = "\(context.event.op.name) retried on \(context.describe(retried)) after the failure at \(context.describe(seqs: failures))"
        message += causes.isEmpty ? ", with nothing released since" : "; the pin at \(context.describe(seqs: causes)) that made it fail is still held"
        return Detection(spans: retried, related: causes + failures, message: message)
    }
}
