/// One policy of POLICIES.md, as code. A rule looks at one event with the state before it, the
/// auditor's memory and the engine's verdict, and says whether the event breaks the policy.
/// Rules are pure: no SQL, no I/O, no state of their own beyond `AuditMemory`.
public protocol Rule: Sendable {
    /// The stable id, `GM-R01` ….
    var id: String { get }
    /// The name, `convert-pinned-to-shared` ….
    var name: String { get }
    var defaultSeverity: Severity { get }
    /// What the rule fires on (POLICIES.md "fires on").
    var firesOn: String { get }
    /// Why it matters, with its source (POLICIES.md "why").
    var rationale: String { get }

    /// The finding `context.event` raises under this rule, or nil.
    func check(_ context: RuleContext) -> Detection?
}

/// What a rule found, before the auditor stamps it with the event's seq, time, host and VM.
public struct Detection: Equatable, Sendable {
    public var spans: [FileSpan]
    /// Ranges that are not file pages (unresolved addresses, GM-R13).
    public var otherRanges: [FindingRange]
    public var related: [Int64]
    public var message: String
    /// Set when this event's severity differs from the rule's default (GM-R07).
    public var severity: Severity?
    /// Set when the VM concerned is not the event's own (GM-R05: the owner of a reused frame).
    public var vm: String?

    public init(
        spans: [FileSpan] = [], otherRanges: [FindingRange] = [], related: [Int64], message: String,
        severity: Severity? = nil, vm: String? = nil
    ) {
        self.spans = spans
        self.otherRanges = otherRanges
        self.related = related
        self.message = message
        self.severity = severity
        self.vm = vm
    }
}

/// Everything a rule may look at for one event.
public struct RuleContext: Sendable {
    /// Settable inside the module, like the fields below, so that `Auditor` keeps one context
    /// for every event.
    public internal(set) var seq: Int64
    public internal(set) var event: Event
    /// Settable inside the module so that `Auditor` can move the verdict, the state and the
    /// memory in and out of a context instead of copying them (a copy retains and releases
    /// every buffer they hold, per event).
    public internal(set) var verdict: Verdict
    /// The engine state before the event.
    public internal(set) var state: GmemState
    /// The auditor's memory before the event.
    public internal(set) var memory: AuditMemory
    /// For a conversion judged by the catalog's rules: what one walk of its pages found, which
    /// the rules that would each walk them ask first (`PageFacts`); nil otherwise, and then
    /// every rule walks on its own.
    var pageFacts: PageFacts?

    public init(seq: Int64, event: Event, verdict: Verdict, state: GmemState, memory: AuditMemory) {
        self.seq = seq
        self.event = event
        self.verdict = verdict
        self.state = state
        self.memory = memory
    }

    /// The result that decides the state: the observed one, else the model's.
    public var effectiveResult: String? { event.result ?? verdict.expected }

    /// True when the event took effect as a success.
    public var succeeded: Bool { verdict.effectiveOutcome(of: event)?.isOK ?? false }

    /// True when the log observed `ok`.
    public var observedOK: Bool { event.outcome?.isOK ?? false }

    /// The file pages the event concerns. An `unbind` on a dead VM is refused before the engine
    /// resolves its slot; the rules still need to know which pages the VMM tried to zap.
    public var pieces: Pieces {
        if verdict.pieces.isEmpty, case .unbind(let vm, let slot) = event.op,
            let binding = state.vms[vm]?.bindings[slot], let index = state.fileIndex[binding.gmem]
        {
            let lower = binding.offset / pageSize
            return Pieces(Piece(file: index, pages: lower..<(lower + binding.size / pageSize), address: binding.gpa))
        }
        return verdict.pieces
    }

    /// The merged runs of the concerned pages whose state satisfies `predicate`.
    public func spans(where predicate: (PageState) -> Bool) -> [FileSpan] {
        spans(of: pieces, where: predicate)
    }

    /// The merged runs of `pieces` whose state satisfies `predicate`.
    public func spans(of pieces: some Collection<Piece>, where predicate: (PageState) -> Bool) -> [FileSpan] {
        var result: [FileSpan] = []
        for piece in pieces {
            for range in state.files[piece.file].pages.ranges(in: piece.pages, where: predicate) {
                if let last = result.last, last.file == piece.file, last.pages.upperBound == range.lowerBound {
                    result[result.count - 1].pages = last.pages.lowerBound..<range.upperBound
                } else {
                    result.append(FileSpan(file: piece.file, pages: range))
                }
            }
        }
        return result
    }

    /// The merged runs of `spans` whose memory satisfies `predicate`.
    public func spans(_ candidates: [FileSpan], whereMemory predicate: (PageMemory) -> Bool) -> [FileSpan] {
        var result: [FileSpan] = []
        for span in candidates where span.file < memory.files.count {
            for range in memory.files[span.file].ranges(in: span.pages, where: predicate) {
                result.append(FileSpan(file: span.file, pages: range))
            }
        }
        return result
    }

    /// The concerned pages as whole spans (every page of the event).
    public var allSpans: [FileSpan] { spans(where: { _ in true }) }

    /// `g1 0x10000+0x1000, 0x20000+0x2000` for a message.
    public func describe(_ spans: [FileSpan]) -> String {
        var parts: [String] = []
        var lastFile: Int?
        for span in spans {
            let range = "\(hex(span.pages.lowerBound * pageSize))+\(hex(UInt64(span.pages.count) * pageSize))"
            parts.append(lastFile == span.file ? range : "\(state.files[span.file].name) \(range)")
            lastFile = span.file
        }
        return parts.joined(separator: ", ")
    }

    /// `seq 17` or `seqs 17, 20`.
    public func describe(seqs: [Int64]) -> String {
        seqs.count == 1 ? "seq \(seqs[0])" : "seqs " + seqs.map(String.init).joined(separator: ", ")
    }
}

extension RuleContext {
    /// The gmem file pages that `frames` back (open or closed files), merged, in file order.
    public func pagesBacked(by frames: Range<UInt64>) -> [FileSpan] {
        var result: [FileSpan] = []
        state.frames.forEachRun(in: frames) { run in
            let first = UInt64(bitPattern: Int64(bitPattern: run.lower) &+ run.value.pageDelta)
            result.append(FileSpan(file: run.value.file, pages: first..<(first + UInt64(run.range.count))))
            return true
        }
        return result.sorted { ($0.file, $0.pages.lowerBound) < ($1.file, $1.pages.lowerBound) }
    }

    /// The merged runs of `spans` whose state satisfies `predicate`.
    public func spans(_ candidates: [FileSpan], where predicate: (PageState) -> Bool) -> [FileSpan] {
        spans(of: candidates.map { Piece(file: $0.file, pages: $0.pages, address: $0.pages.lowerBound * pageSize) }, where: predicate)
    }
}

/// Whether some page of an event's pages (`RuleContext.pieces`), in the state before it, holds
/// what the conversion rules look for: taken in one walk, so that GM-R01, GM-R04, GM-R06 and
/// GM-R10, which each walked a conversion's pages, walk them again only to build the spans of a
/// finding.
struct PageFacts: Sendable {
    /// A page the TD has pinned (GM-R01).
    var tdPinned = false
    /// A page with an IOMMU, VFIO or GUP reference (GM-R06).
    var hostPinned = false
    /// A page with an IOMMU or VFIO mapping (GM-R10).
    var dmaMapped = false
    /// A mapped private page the guest has not asked to share (GM-R04).
    var privateMappedUnrequested = false

    init(_ context: borrowing RuleContext) {
        for piece in context.pieces {
            context.state.files[piece.file].pages.forEachRun(in: piece.pages) { run in
                let page = run.value
                if page.pins.td > 0 { tdPinned = true }
                if page.pins.hasHostPin { hostPinned = true }
                if page.pins.iommu > 0 || page.pins.vfio > 0 { dmaMapped = true }
                if page.shareability == .private, page.mapped, page.requested != .shared { privateMappedUnrequested = true }
                return true
            }
        }
    }
}
