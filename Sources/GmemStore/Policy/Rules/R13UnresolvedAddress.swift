/// GM-R13: an event the engine cannot place: a gpa no memslot binds, an unknown or closed gmem,
/// a range past the end of the file, an unknown VM. The evidence is kept; the auditor says so.
/// The finding's ranges are the parts that could not be placed, in the event's own addressing.
public struct UnresolvedAddress: Rule {
    public var id: String { "GM-R13" }
    public var name: String { "unresolved-address" }
    public var defaultSeverity: Severity { .warning }
    public var firesOn: String { "an event whose range cannot be resolved (no binding for a gpa, unknown gmem, beyond the file's size)" }
    public var rationale: String { "the evidence is kept; the auditor says it could not place it" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        guard let reason = context.verdict.unresolvedReason else { return nil }
        var ranges: [FindingRange] = []
        var related: [Int64] = []
        switch context.event.op.range {
        case .file(let gmem, _, _):
            ranges = context.verdict.unresolved.map { FindingRange(gmem: gmem, offset: $0.lowerBound, size: UInt64($0.count)) }
            if let index = context.state.fileIndex[gmem], let closed = context.memory.closed[index] { related.append(closed) }
        case .guest(let vm, _, _):
            ranges = context.verdict.unresolved.map { FindingRange(vm: vm, gpa: $0.lowerBound, size: UInt64($0.count)) }
            if let unbound = context.memory.unbound[vm] {
                for range in context.verdict.unresolved {
                    unbound.forEachRun(in: (range.lowerBound / pageSize)..<(range.upperBound / pageSize)) { run in
                        related.append(run.value)
                        return true
                    }
                }
            }
        case nil:
            if case .gmemClose(let gmem) = context.event.op, let index = context.state.fileIndex[gmem],
                let closed = context.memory.closed[index]
            {
                related.append(closed)
            }
        }
        return Detection(
            otherRanges: ranges, related: related,
            message: "\(context.event.op.name) cannot be placed: \(reason); the event is kept as evidence and changes no state"
                + (related.isEmpty ? "" : " (see \(context.describe(seqs: Array(Set(related)).sorted())))"))
    }
}
