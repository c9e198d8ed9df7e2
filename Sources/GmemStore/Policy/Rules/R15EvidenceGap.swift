/// GM-R15: the log itself says it has a hole (`gap`: a trace's `[LOST n EVENTS]`, a ring-buffer
/// overrun, a live reader's uncommitted lines). Whatever the lost events did is not in the
/// state, so every open gmem file is a reconstruction across the hole from here on, and
/// findings about its pages may be missing or wrong. The finding covers those files.
public struct EvidenceGap: Rule {
    public var id: String { "GM-R15" }
    public var name: String { "evidence-gap" }
    public var defaultSeverity: Severity { .error }
    public var firesOn: String { "a gap event: the log lost events; findings about pages after it may be missing or wrong until their state is re-established" }
    public var rationale: String { "a reconstruction across a hole in the evidence cannot be trusted, and an auditor must say so" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        guard case .gap(let source, let lost) = context.event.op else { return nil }
        let spans = context.verdict.pieces.map { FileSpan(file: $0.file, pages: $0.pages) }
        let count = lost.map { "\($0) event\($0 == 1 ? "" : "s")" } ?? "an unknown number of events"
        let concerned = spans.isEmpty
            ? "no gmem file was open, but VMs and files the lost events created or changed are missing from the state"
            : "the state of \(context.describe(spans)) cannot be trusted from seq \(context.seq) on"
        return Detection(
            spans: spans, related: [],
            message: "'\(source)' lost \(count): \(concerned); findings about those pages may be missing or wrong")
    }
}
