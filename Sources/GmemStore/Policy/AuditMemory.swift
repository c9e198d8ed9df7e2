/// Why a zap or conversion failed, as far as the rules need to know: the cause a retry would
/// meet again (GM-R03).
public enum FailureCause: UInt8, Sendable {
    case none = 0
    /// A mapped page pinned by the TD made the S-EPT unmap fail (EIO).
    case tdPin = 1
    /// An `iommu`/`vfio`/`gup` reference made a conversion to private fail (EAGAIN).
    case hostPin = 2
}

/// What the auditor remembers about a page beyond its state: the seq of the events that put it
/// where it is. Kept as runs, like the state, so that remembering costs what the state costs.
public struct PageMemory: Hashable, Sendable {
    /// The last event that took a `td` pin, while the TD holds one.
    public var tdPin: Int64?
    /// The last `iommu`/`vfio` pin, while one is held.
    public var dmaPin: Int64?
    /// The last `gup` pin, while one is held.
    public var gupPin: Int64?
    /// The last successful `map`, while mapped.
    public var mapped: Int64?
    /// The last successful `accept`, while accepted.
    public var accepted: Int64?
    /// The last successful `release holder=td`.
    public var tdRelease: Int64?
    /// The `gmem_create` or conversion that made the page private, while private.
    public var madePrivate: Int64?
    /// The last failed zap or conversion whose cause still stands.
    public var failure: Int64?
    public var failureCause = FailureCause.none
    /// The failed zap that quarantined the page, while quarantined.
    public var quarantined: Int64?
    /// The `vm_destroy` or `gmem_close` that left the page quarantined.
    public var exit: Int64?

    public init() {}
}

/// The auditor's compact memory: per gmem file (same index as `GmemState.files`) a run map of
/// `PageMemory`, and per VM the event that killed it and the gpa ranges its unbinds removed.
/// Updated from the state before each event and the engine's verdict, before the engine
/// commits; serialized with the engine state so that an audit resumes where it stopped.
public struct AuditMemory: Equatable, Sendable {
    public var files: [RangeMap<PageMemory>] = []
    /// The event after which each VM was dead (bugged or destroyed).
    public var vmDeath: [String: Int64] = [:]
    /// Per VM, by gpa page: the `unbind` that removed the binding of that page.
    public var unbound: [String: RangeMap<Int64>] = [:]
    /// Per file index: the `gmem_close` that closed it.
    public var closed: [Int: Int64] = [:]

    public init() {}

    /// The seqs that `field` holds over `spans`, ascending and distinct.
    public func seqs(in spans: [FileSpan], _ field: (PageMemory) -> Int64?) -> [Int64] {
        var found: Set<Int64> = []
        for span in spans where span.file < files.count {
            files[span.file].forEachRun(in: span.pages) { run in
                if let seq = field(run.value) { found.insert(seq) }
                return true
            }
        }
        return found.sorted()
    }

    /// Records what `event` (judged by `verdict` from `state`, the state before it) changes in
    /// the memory. Mirrors `Engine.commit`: the observed result decides, else the expected one.
    mutating func record(seq: Int64, event: Event, verdict: Verdict, state: GmemState) {
        guard let effective = event.result ?? verdict.expected else { return }
        let succeeded = effective.isOK
        let zapFailed = !succeeded && effective.uppercased() == "EIO"
        let profile = verdict.kernel
        if verdict.refused, !succeeded, profile.refusalHasNoEffect { return }
        let stops = profile.failedRemovalStopsTheOperation || !succeeded
        switch event.op {
        case .vmCreate(let vm, _, _):
            guard succeeded else { return }
            vmDeath[vm] = nil
            unbound[vm] = nil
        case .vmDestroy(let vm):
            guard succeeded else { return }
            for piece in verdict.pieces {
                update(piece) { $0.mapped = nil; $0.accepted = nil }
                if !profile.quarantineEndsAtTeardown {
                    for span in spans(piece, state, where: { $0.quarantined }) { update(span) { $0.exit = seq } }
                }
            }
            if profile.quarantineEndsAtTeardown {
                // The teardown reclaims the VM's frames: nothing of it stays quarantined.
                for index in state.files.indices where state.files[index].vm == vm {
                    update(FileSpan(file: index, pages: 0..<state.files[index].pageCount)) { $0.quarantined = nil; $0.exit = nil }
                }
            }
        case .gmemClose:
            guard succeeded, let piece = verdict.pieces.first else { return }
            closed[piece.file] = seq
            if profile.closeZaps { recordRemoval(seq: seq, verdict: verdict, failed: !verdict.blocked.isEmpty) }
            for span in spans(piece, state, where: { $0.quarantined }) { update(span) { $0.exit = seq } }
            for blocked in verdict.blocked where profile.closeZaps { update(blocked) { $0.exit = seq } }
        case .bind(let vm, _, _, let gpa, let size, _, _):
            if succeeded { unbound[vm]?.assign((gpa / pageSize)..<((gpa + size) / pageSize), nil) }
        case .unbind(let vm, let slot):
            guard succeeded || zapFailed else { return }
            if let binding = state.vms[vm]?.bindings[slot] {
                unbound[vm, default: RangeMap()].assign((binding.gpa / pageSize)..<((binding.gpa + binding.size) / pageSize), seq)
            }
            if stops {
                recordZap(seq: seq, verdict: verdict, state: state, succeeded: succeeded, failed: zapFailed)
            } else {
                recordRemoval(seq: seq, verdict: verdict, failed: !verdict.blocked.isEmpty)
            }
        case .punchHole:
            if stops {
                recordZap(seq: seq, verdict: verdict, state: state, succeeded: succeeded, failed: zapFailed)
            } else {
                recordRemoval(seq: seq, verdict: verdict, failed: !verdict.blocked.isEmpty)
            }
        case .zap:
            if profile.failedRemovalStopsTheOperation {
                recordZap(seq: seq, verdict: verdict, state: state, succeeded: succeeded, failed: zapFailed)
            } else if succeeded || zapFailed {
                recordRemoval(seq: seq, verdict: verdict, failed: zapFailed)
            }
        case .convert(_, let to):
            if succeeded {
                if profile.unchangedConversionReturnsEarly,
                    !verdict.pieces.contains(where: { state.files[$0.file].pages.firstPage(in: $0.pages, where: { $0.shareability != to }) != nil })
                {
                    return
                }
                if !stops { recordRemoval(seq: seq, verdict: verdict, failed: !verdict.blocked.isEmpty) }
                let endsQuarantine = !profile.quarantineEndsAtTeardown
                for piece in verdict.pieces {
                    update(piece) {
                        $0.mapped = nil
                        $0.accepted = nil
                        if endsQuarantine { $0.quarantined = nil }
                        $0.failure = nil
                        $0.failureCause = .none
                        $0.madePrivate = to == .private ? ($0.madePrivate ?? seq) : nil
                    }
                }
            } else if effective.uppercased() == "EAGAIN" {
                for piece in verdict.pieces {
                    for span in spans(piece, state, where: { $0.pins.hasHostPin }) {
                        update(span) { $0.failure = seq; $0.failureCause = .hostPin }
                    }
                }
            } else {
                var failure = verdict
                if zapFailed, failure.blocked.isEmpty, !failure.refused, !profile.failedRemovalStopsTheOperation {
                    failure.blocked = Engine.blocked(verdict.pieces, profile, in: state)
                }
                recordZap(seq: seq, verdict: failure, state: state, succeeded: false, failed: zapFailed)
            }
        case .map:
            if succeeded { for piece in verdict.pieces { update(piece) { $0.mapped = seq } } }
        case .accept:
            guard succeeded else { return }
            let pins = verdict.vm.flatMap { state.vms[$0] }?.tdxConnect ?? false
            for piece in verdict.pieces {
                update(piece) {
                    $0.accepted = seq
                    if pins { $0.tdPin = seq }
                }
            }
        case .pin(_, let holder):
            guard succeeded else { return }
            for piece in verdict.pieces {
                update(piece) {
                    switch holder {
                    case .td: $0.tdPin = seq
                    case .iommu, .vfio: $0.dmaPin = seq
                    case .gup: $0.gupPin = seq
                    }
                }
            }
        case .release(_, let holder):
            guard succeeded else { return }
            for piece in verdict.pieces {
                for run in state.files[piece.file].pages.runs(in: piece.pages) {
                    var pins = run.value.pins
                    if pins[holder] > 0 { pins[holder] -= 1 }
                    update(FileSpan(file: piece.file, pages: run.range)) {
                        switch holder {
                        case .td:
                            if pins.td == 0 { $0.tdPin = nil }
                            $0.tdRelease = seq
                            $0.accepted = nil
                            if $0.failureCause == .tdPin { $0.failure = nil; $0.failureCause = .none }
                        case .iommu, .vfio, .gup:
                            if pins.iommu == 0 && pins.vfio == 0 { $0.dmaPin = nil }
                            if pins.gup == 0 { $0.gupPin = nil }
                            if $0.failureCause == .hostPin { $0.failure = nil; $0.failureCause = .none }
                        }
                    }
                }
            }
        case .populate, .convertRequest, .hostAccess, .reuse, .mce, .vmBugged, .gmemCreate, .context, .gap:
            return
        }
    }

    /// The memory change of a zap: on success the page is unmapped, un-accepted, out of
    /// quarantine and its failure forgotten; on an EIO failure the mapped `td`-pinned pages
    /// remember the failure, and the pages the engine quarantines remember by what.
    private mutating func recordZap(seq: Int64, verdict: Verdict, state: GmemState, succeeded: Bool, failed: Bool) {
        if succeeded {
            for piece in verdict.pieces {
                update(piece) {
                    $0.mapped = nil
                    $0.accepted = nil
                    $0.quarantined = nil
                    $0.exit = nil
                    $0.failure = nil
                    $0.failureCause = .none
                }
            }
            return
        }
        guard failed else { return }
        for piece in verdict.pieces {
            for span in spans(piece, state, where: verdict.kernel.removalFails) {
                update(span) { $0.failure = seq; $0.failureCause = .tdPin }
            }
        }
        for piece in verdict.blocked {
            update(piece) { if $0.quarantined == nil { $0.quarantined = seq } }
        }
    }

    /// The memory change of a removal that goes on past failures (upstream-2026): every page is
    /// unmapped, un-accepted and its failure forgotten (no mapping is left for a retry to meet);
    /// when `failed`, the pages whose removal failed remember the event that quarantined them.
    private mutating func recordRemoval(seq: Int64, verdict: Verdict, failed: Bool) {
        for piece in verdict.pieces {
            update(piece) {
                $0.mapped = nil
                $0.accepted = nil
                $0.failure = nil
                $0.failureCause = .none
            }
        }
        guard failed else { return }
        for piece in verdict.blocked {
            update(piece) { if $0.quarantined == nil { $0.quarantined = seq } }
        }
    }

    /// Records what the engine's commit of `event` changed: new files get their memory, and a VM
    /// that died remembers the event that killed it.
    mutating func recordAfterCommit(seq: Int64, vm: String?, wasAlive: Bool, state: GmemState) {
        while files.count < state.files.count {
            let file = state.files[files.count]
            var page = PageMemory()
            if file.pages[0]?.shareability == .private { page.madePrivate = seq }
            files.append(RangeMap(0..<file.pageCount, page))
        }
        if wasAlive, let vm, let life = state.vms[vm]?.life, life.isDead { vmDeath[vm] = seq }
    }

    private func spans(_ piece: Piece, _ state: GmemState, where predicate: (PageState) -> Bool) -> [FileSpan] {
        state.files[piece.file].pages.ranges(in: piece.pages, where: predicate).map { FileSpan(file: piece.file, pages: $0) }
    }

    private mutating func update(_ piece: Piece, _ change: (inout PageMemory) -> Void) {
        update(FileSpan(file: piece.file, pages: piece.pages), change)
    }

    private mutating func update(_ span: FileSpan, _ change: (inout PageMemory) -> Void) {
        guard span.file < files.count else { return }
        files[span.file].update(span.pages) { _, value in
            guard var page = value else { return nil }
            change(&page)
            return page
        }
    }
}

/// A run of pages of one gmem file, by index into `GmemState.files`.
public struct FileSpan: Equatable, Sendable {
    public var file: Int
    public var pages: Range<UInt64>

    public init(file: Int, pages: Range<UInt64>) {
        self.file = file
        self.pages = pages
    }
}
