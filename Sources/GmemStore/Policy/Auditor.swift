/// Runs the rules over a replay: for each event, the engine's verdict from the state before
/// it, every rule against that state, the auditor's memory and the verdict, then the engine's
/// commit, whose transitions the memory folds. One pass over the log; no SQL. Pure, like the engine.
public struct Auditor: Sendable {
    public private(set) var engine: Engine
    public private(set) var memory: AuditMemory
    public let rules: [any Rule]
    /// True when `rules` are `RuleCatalog.all`, rule for rule: `judge` then calls each rule's
    /// `check` on its own type instead of through `any Rule`, which copied and destroyed an
    /// existential per rule and event.
    let rulesAreTheCatalog: Bool

    /// The context the rules see, kept from one event to the next: the state, the memory and
    /// the verdict are moved into it and back out (`swap`), and between events it holds the
    /// empty stand-ins it started with, so that no stand-in is made or destroyed per event.
    private var scratch: RuleContext
    /// The fold of the commit, kept likewise: the memory is moved into it for the commit.
    private var batch: BatchedFold

    /// An auditor that continues from `engine` and `memory` (both empty for a new log).
    public init(engine: Engine = Engine(), memory: AuditMemory = AuditMemory(), rules: [any Rule] = RuleCatalog.all) {
        self.engine = engine
        self.memory = memory
        self.rules = rules
        self.rulesAreTheCatalog = RuleCatalog.isAll(rules)
        scratch = RuleContext(seq: 0, event: Event(.mce(pfn: 0)), verdict: Verdict(), state: GmemState(), memory: AuditMemory())
        batch = BatchedFold(memory: AuditMemory(), seq: 0)
    }

    /// Audits and applies event `seq`; returns its findings in rule order.
    public mutating func audit(_ event: Event, seq: Int64) -> [Finding] {
        // The rules see the state and the memory moved into their context and back out: a
        // copy would retain every buffer of both on the way in and release it on the way out,
        // per event.
        scratch.seq = seq
        scratch.event = event
        scratch.verdict = engine.evaluate(event)
        swap(&scratch.state, &engine.state)
        swap(&scratch.memory, &memory)
        scratch.pageFacts = nil
        if rulesAreTheCatalog, case .convert = event.op { scratch.pageFacts = PageFacts(scratch) }
        let findings = rulesAreTheCatalog ? Self.judgeByCatalog(scratch) : Self.judge(rules, scratch)
        swap(&scratch.state, &engine.state)
        swap(&scratch.memory, &memory)
        // The memory folds what the commit does (a release's runs joined: `BatchedFold`); moved
        // out for the commit, so that no page map of it is copied.
        batch.fold.seq = seq
        swap(&batch.fold.memory, &memory)
        engine.commit(event, scratch.verdict, into: &batch)
        batch.finish()
        swap(&batch.fold.memory, &memory)
        engine.noteEvidence(of: event, seq: seq)
        return findings
    }

    /// The findings of one event, in the order of `rules`.
    private static func judge(_ rules: [any Rule], _ context: RuleContext) -> [Finding] {
        var findings: [Finding] = []
        for rule in rules {
            guard let detection = rule.check(context) else { continue }
            findings.append(finding(of: rule, detection, context))
        }
        return findings
    }

    /// `judge` over `RuleCatalog.all`, in its order, each rule called on its own type and
    /// only on the ops it can fire on (`CatalogRule.ops`).
    private static func judgeByCatalog(_ context: RuleContext) -> [Finding] {
        var findings: [Finding] = []
        let op = OpSet(context.event.op.kind)
        func run<R: CatalogRule>(_ rule: R) {
            guard R.ops.contains(op), let detection = rule.check(context) else { return }
            findings.append(finding(of: rule, detection, context))
        }
        run(ConvertPinnedToShared())
        run(ZapOfTDPinned())
        run(FutileRetry())
        run(UnrequestedPrivateZap())
        run(ReuseOfUnreclaimedFrame())
        run(ConvertWithElevatedRefcount())
        run(HostAccessToPrivate())
        run(PinLeak())
        run(OpOnDeadVM())
        run(DMAOrdering())
        run(OutcomeDivergence())
        run(AcceptReleaseImbalance())
        run(UnresolvedAddress())
        run(UnsafeQuarantineExit())
        run(EvidenceGap())
        return findings
    }

    /// `detection` stamped with the event's seq, time, host, VM and kernel profile.
    private static func finding<R: Rule>(of rule: R, _ detection: Detection, _ context: RuleContext) -> Finding {
        var ranges = detection.spans.map { span in
            FindingRange(
                gmem: context.state.files[span.file].name, offset: span.pages.lowerBound * pageSize,
                size: UInt64(span.pages.count) * pageSize)
        }
        ranges += detection.otherRanges
        return Finding(
            rule: rule.id, name: rule.name, severity: detection.severity ?? rule.defaultSeverity, seq: context.seq,
            ts: context.event.ts, host: context.event.host, vm: detection.vm ?? context.verdict.vm, ranges: ranges,
            related: detection.related.filter { $0 < context.seq }, message: detection.message,
            kernel: detection.vm.flatMap { context.state.vms[$0]?.kernel } ?? context.verdict.kernel)
    }
}
