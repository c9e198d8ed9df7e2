/// GM-R11: the log's observed result differs from what the model says the kernel would answer.
/// Either the log is incomplete or the kernel did not do what the rules say.
public struct OutcomeDivergence: Rule {
    public var id: String { "GM-R11" }
    public var name: String { "outcome-divergence" }
    public var defaultSeverity: Severity { .error }
    public var firesOn: String { "an observed result that differs from the outcome the model expects" }
    public var rationale: String { "either the log is incomplete or the kernel did not do what the rules say: both need a human" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        guard context.verdict.diverged, let observed = context.event.result, let expected = context.verdict.expected else { return nil }
        // The events behind the model's expectation.
        var related: [Int64] = []
        if let name = context.verdict.vm, context.state.vms[name]?.life.isDead == true, let death = context.memory.vmDeath[name] {
            related.append(death)
        }
        switch context.event.op {
        case .accept:
            related += context.memory.seqs(in: context.spans(where: { $0.accepted })) { $0.accepted }
        case .release(_, let holder):
            if holder == .td { related += context.memory.seqs(in: context.spans(where: { $0.pins.td == 0 })) { $0.tdRelease } }
        case .convert(_, .private):
            let referenced = context.spans(where: { $0.pins.hasHostPin })
            related += context.memory.seqs(in: referenced) { $0.dmaPin } + context.memory.seqs(in: referenced) { $0.gupPin }
        default:
            break
        }
        let blocked = context.spans(of: context.verdict.blocked, where: { _ in true })
        related += context.memory.seqs(in: blocked) { $0.tdPin }
        var message = "\(context.event.op.name) observed \(observed)"
        if let offset = context.event.errorOffset { message += " at \(hex(offset))" }
        message += ", the model expects \(expected)"
        if let offset = context.verdict.expectedErrorOffset { message += " at \(hex(offset))" }
        message += "; the state follows the log. Either the log is incomplete or the kernel did not do what the rules say"
        return Detection(spans: context.allSpans, related: related, message: message)
    }
}
