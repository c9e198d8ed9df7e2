import PropertyBased
import Testing
@testable import GmemStore

/// The transitions `Engine.commit` makes (Sources/GmemStore/Engine/Transition.swift), and the
/// auditor's memory folded from them against the memory as it was kept before: by switching over
/// each event's operation a second time.
@Suite struct TransitionTests {
    /// A TDX Connect VM judged by `kernel` with one private file of 16 pages bound at gpa
    /// 0x10_0000: pages 0…3 populated from frame 0x2000 and mapped, pages 0…1 accepted (so
    /// `td`-pinned).
    static func setUp(_ kernel: KernelProfile) -> [Event] {
        [
            Event(.vmCreate(vm: "a", type: "tdx", tdxConnect: true), kernel: kernel),
            Event(.gmemCreate(vm: "a", gmem: "g1", size: 16 * 4096, flags: ["mmap"], folioSize: 4096)),
            Event(.bind(vm: "a", gmem: "g1", slot: 1, gpa: 0x10_0000, size: 16 * 4096, offset: 0, hva: nil)),
            Event(.populate(.file(gmem: "g1", offset: 0, size: 4 * 4096), pfn: 0x2000)),
            Event(.map(.file(gmem: "g1", offset: 0, size: 4 * 4096))),
            Event(.accept(.file(gmem: "g1", offset: 0, size: 2 * 4096))),
        ]
    }

    static let fourPages = Piece(file: 0, pages: 0..<4, address: 0)
    static let tdHeld = Piece(file: 0, pages: 0..<2, address: 0)

    /// Applies `events` and returns the transitions of each.
    static func transitions(_ events: [Event]) -> [[Transition]] {
        var engine = Engine()
        return events.map { event in
            var log = TransitionLog()
            engine.apply(event, into: &log)
            return log.transitions
        }
    }

    @Test("the set-up's transitions: created, bound, populated, mapped, accepted with the TD's pin")
    func setUpTransitions() {
        let found = Self.transitions(Self.setUp(.upstream2026))
        #expect(found == [
            [.vmCreated(vm: "a")],
            [.fileCreated(file: 0, pages: 16, shareability: .private)],
            [.bound(vm: "a", gpaPages: 0x100..<0x110)],
            [.populated(Self.fourPages, firstFrame: 0x2000)],
            [.mapped(Self.fourPages)],
            [.accepted(Self.tdHeld, pinnedByTD: true)],
        ])
    }

    @Test("rfc-2025: a DMA pin, a conversion to private that meets it, one to shared that the TD's pin fails, a retry on the bugged VM")
    func pinConvertZapFailing() {
        let events = Self.setUp(.rfc2025) + [
            Event(.pin(.file(gmem: "g1", offset: 2 * 4096, size: 2 * 4096), holder: .vfio)),
            Event(.convert(.file(gmem: "g1", offset: 0, size: 4 * 4096), to: .private)),
            Event(.convert(.file(gmem: "g1", offset: 0, size: 4 * 4096), to: .shared)),
            Event(.zap(.file(gmem: "g1", offset: 0, size: 4 * 4096), reason: "host")),
        ]
        let found = Self.transitions(events).suffix(4)
        #expect(Array(found) == [
            [.pinned(Piece(file: 0, pages: 2..<4, address: 0x2000), holder: .vfio)],
            // EAGAIN at the DMA-pinned pages: nothing changes, the cause is remembered.
            [.failed(FileSpan(file: 0, pages: 2..<4), cause: .hostPin)],
            // EIO: the TD-held pages fail their removal, the VM is bugged, they are quarantined
            // and nothing converts.
            [.failed(FileSpan(file: 0, pages: 0..<2), cause: .tdPin), .vmDied(vm: "a"), .quarantined(Self.tdHeld)],
            // The bugged VM refuses the zap with EIO: the same pages fail again, nothing else.
            [.failed(FileSpan(file: 0, pages: 0..<2), cause: .tdPin)],
        ])
    }

    @Test("upstream-2026: a zap of TD-held pages goes on and quarantines them; punch hole frees the folios, their reuse and the teardown")
    func quarantineAndPunchHoleReuse() {
        let events = Self.setUp(.upstream2026) + [
            Event(.zap(.file(gmem: "g1", offset: 0, size: 4 * 4096), reason: "host")),
            Event(.punchHole(.file(gmem: "g1", offset: 0, size: 4 * 4096))),
            Event(.reuse(pfn: 0x2000, npages: 4, owner: "host")),
            Event(.vmDestroy(vm: "a")),
        ]
        let found = Self.transitions(events).suffix(4)
        #expect(Array(found) == [
            [.zapped(Self.fourPages, endsQuarantine: false), .vmDied(vm: "a"), .quarantined(Self.tdHeld)],
            // Punch hole still runs on the bugged VM; nothing is mapped, so nothing fails.
            [.zapped(Self.fourPages, endsQuarantine: false), .holePunched(Self.fourPages)],
            [.reused(frames: 0x2000..<0x2004, owner: "host")],
            [.tornDown(Piece(file: 0, pages: 0..<16, address: 0)), .reclaimed(FileSpan(file: 0, pages: 0..<16))],
        ])
        // The frames of the quarantined pages were handed out while the TDX module maps them.
        var auditor = Auditor()
        var findings: [Finding] = []
        for (index, event) in events.enumerated() { findings += auditor.audit(event, seq: Int64(index + 1)) }
        let reuse = findings.filter { $0.rule == "GM-R05" }
        #expect(reuse.map(\.seq) == [9])
        #expect(reuse.first?.related == [6, 7])
    }

    @Test("upstream-2026: closing the file over quarantined pages leaves them quarantined; a TD release says what remains")
    func closeLeavesQuarantineAndRelease() {
        let events = Self.setUp(.upstream2026) + [
            Event(.release(.file(gmem: "g1", offset: 0, size: 4096), holder: .td)),
            Event(.zap(.file(gmem: "g1", offset: 4096, size: 4096), reason: "host")),
            Event(.gmemClose(gmem: "g1")),
        ]
        let found = Self.transitions(events).suffix(3)
        var remaining = Pins()
        remaining.td = 0
        let page1 = Piece(file: 0, pages: 1..<2, address: 4096)
        #expect(Array(found) == [
            [.released(FileSpan(file: 0, pages: 0..<1), holder: .td, remaining: remaining)],
            [.zapped(page1, endsQuarantine: false), .vmDied(vm: "a"), .quarantined(page1)],
            [.fileClosed(file: 0), .zapped(Piece(file: 0, pages: 0..<16, address: 0), endsQuarantine: false),
             .leftQuarantined(FileSpan(file: 0, pages: 1..<2))],
        ])
    }

    @Test("a commit that hands its transitions to a fold leaves the same state as one that does not", .shrinking(false))
    func foldingChangesNoState() async {
        await propertyCheck(count: 30, input: Gen.uint64().array(of: 200...260)) { numbers in
            for kernel in KernelProfile.allCases {
                var plain = Engine()
                var folded = Engine()
                for event in EngineModelTests.prologue(kernel) + numbers.map(EngineModelTests.event) {
                    let verdict = plain.evaluate(event)
                    plain.commit(event, verdict)
                    var log = TransitionLog()
                    folded.commit(event, verdict, into: &log)
                }
                #expect(plain == folded)
            }
        }
    }

    @Test(
        "the auditor's memory folded from transitions equals the memory kept by switching over each operation, at every prefix of random logs",
        .shrinking(false), arguments: KernelProfile.allCases)
    func memoryFromTransitionsEqualsLegacy(kernel: KernelProfile) async {
        await propertyCheck(count: 120, input: Gen.uint64().array(of: 200...260)) { numbers in
            if let problem = Self.firstMemoryDifference(EngineModelTests.prologue(kernel) + numbers.map(EngineModelTests.event)) {
                Issue.record("\(problem)")
            }
        }
    }

    @Test("a vm_destroy the engine ignores (a VM the log never created) leaves the memory's quarantine as the engine leaves the pages")
    func ignoredTeardownKeepsQuarantine() {
        let file = FileSpan(file: 0, pages: 0..<1)
        let events = [
            // A file whose VM the log never created: the engine keeps it, and a failed removal
            // quarantines its page without a VM to bug.
            Event(.gmemCreate(vm: "ghost", gmem: "g1", size: 4 * 4096, flags: [], folioSize: 4096)),
            Event(.pin(.file(gmem: "g1", offset: 0, size: 4096), holder: .td)),
            Event(.map(.file(gmem: "g1", offset: 0, size: 4096))),
            Event(.zap(.file(gmem: "g1", offset: 0, size: 4096), reason: "host")),
            Event(.vmDestroy(vm: "ghost"), result: "ok"),
        ]
        var auditor = Auditor()
        for (index, event) in events.enumerated() { _ = auditor.audit(event, seq: Int64(index + 1)) }
        #expect(auditor.engine.state.files[0].pages[0]?.quarantined == true)
        #expect(auditor.memory.seqs(in: [file]) { $0.quarantined } == [4])
        #expect(Self.transitions(events).last == [])
        // The memory kept by switching over the operation forgot that quarantine: it reclaimed
        // the files of a teardown the engine did not do.
        #expect(Self.firstMemoryDifference(events) != nil)
    }

    /// The first event after which the auditor's memory differs from the legacy one, or nil.
    static func firstMemoryDifference(_ events: [Event]) -> String? {
        var auditor = Auditor()
        var engine = Engine()
        var legacy = AuditMemory()
        for (step, event) in events.enumerated() {
            let seq = Int64(step + 1)
            _ = auditor.audit(event, seq: seq)
            let verdict = engine.evaluate(event)
            legacy.legacyRecord(seq: seq, event: event, verdict: verdict, state: engine.state)
            let wasAlive = verdict.vm.flatMap { engine.state.vms[$0] }.map { !$0.life.isDead } ?? false
            engine.commit(event, verdict)
            engine.noteEvidence(of: event, seq: seq)
            legacy.legacyRecordAfterCommit(seq: seq, vm: verdict.vm, wasAlive: wasAlive, state: engine.state)
            if auditor.memory != legacy {
                return "step \(step) \(event.canonicalJSON): folded memory \(auditor.memory) differs from legacy \(legacy)"
            }
        }
        return nil
    }
}

/// The auditor's memory as `AuditMemory.record` kept it before the engine made transitions:
/// a second switch over each event's operation, from the state before it. Kept here only as the
/// reference the folded memory must equal.
extension AuditMemory {
    mutating func legacyRecord(seq: Int64, event: Event, verdict: Verdict, state: GmemState) {
        guard let effective = verdict.effectiveOutcome(of: event) else { return }
        let succeeded = effective == .ok
        let zapFailed = !succeeded && effective == .EIO
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
                legacyUpdate(piece) { $0.mapped = nil; $0.accepted = nil }
                if !profile.quarantineEndsAtTeardown {
                    for span in legacySpans(piece, state, where: { $0.quarantined }) { legacyUpdate(span) { $0.exit = seq } }
                }
            }
            if profile.quarantineEndsAtTeardown {
                // The teardown reclaims the VM's frames: nothing of it stays quarantined.
                for index in state.files.indices where state.files[index].vm == vm {
                    legacyUpdate(FileSpan(file: index, pages: 0..<state.files[index].pageCount)) { $0.quarantined = nil; $0.exit = nil }
                }
            }
        case .gmemClose:
            guard succeeded, let piece = verdict.pieces.first else { return }
            closed[piece.file] = seq
            if profile.closeZaps { legacyRecordRemoval(seq: seq, verdict: verdict, failed: !verdict.blocked.isEmpty) }
            for span in legacySpans(piece, state, where: { $0.quarantined }) { legacyUpdate(span) { $0.exit = seq } }
            for blocked in verdict.blocked where profile.closeZaps { legacyUpdate(blocked) { $0.exit = seq } }
        case .bind(let vm, _, _, let gpa, let size, _, _):
            if succeeded { unbound[vm]?.assign((gpa / pageSize)..<((gpa + size) / pageSize), nil) }
        case .unbind(let vm, let slot):
            guard succeeded || zapFailed else { return }
            if let binding = state.vms[vm]?.bindings[slot] {
                unbound[vm, default: RangeMap()].assign((binding.gpa / pageSize)..<((binding.gpa + binding.size) / pageSize), seq)
            }
            if stops {
                legacyRecordZap(seq: seq, verdict: verdict, state: state, succeeded: succeeded, failed: zapFailed)
            } else {
                legacyRecordRemoval(seq: seq, verdict: verdict, failed: !verdict.blocked.isEmpty)
            }
        case .punchHole:
            if stops {
                legacyRecordZap(seq: seq, verdict: verdict, state: state, succeeded: succeeded, failed: zapFailed)
            } else {
                legacyRecordRemoval(seq: seq, verdict: verdict, failed: !verdict.blocked.isEmpty)
            }
        case .zap:
            if profile.failedRemovalStopsTheOperation {
                legacyRecordZap(seq: seq, verdict: verdict, state: state, succeeded: succeeded, failed: zapFailed)
            } else if succeeded || zapFailed {
                legacyRecordRemoval(seq: seq, verdict: verdict, failed: zapFailed)
            }
        case .convert(_, let to):
            if succeeded {
                if profile.unchangedConversionReturnsEarly,
                    !verdict.pieces.contains(where: { state.files[$0.file].pages.firstPage(in: $0.pages, where: { $0.shareability != to }) != nil })
                {
                    return
                }
                if !stops { legacyRecordRemoval(seq: seq, verdict: verdict, failed: !verdict.blocked.isEmpty) }
                let endsQuarantine = !profile.quarantineEndsAtTeardown
                for piece in verdict.pieces {
                    legacyUpdate(piece) {
                        $0.mapped = nil
                        $0.accepted = nil
                        if endsQuarantine { $0.quarantined = nil }
                        $0.failure = nil
                        $0.failureCause = .none
                        $0.madePrivate = to == .private ? ($0.madePrivate ?? seq) : nil
                    }
                }
            } else if effective == .EAGAIN {
                for piece in verdict.pieces {
                    for span in legacySpans(piece, state, where: { $0.pins.hasHostPin }) {
                        legacyUpdate(span) { $0.failure = seq; $0.failureCause = .hostPin }
                    }
                }
            } else {
                var failure = verdict
                if zapFailed, failure.blocked.isEmpty, !failure.refused, !profile.failedRemovalStopsTheOperation {
                    failure.blocked = Engine.blocked(verdict.pieces, profile, in: state)
                }
                legacyRecordZap(seq: seq, verdict: failure, state: state, succeeded: false, failed: zapFailed)
            }
        case .map:
            if succeeded { for piece in verdict.pieces { legacyUpdate(piece) { $0.mapped = seq } } }
        case .accept:
            guard succeeded else { return }
            let pins = verdict.vm.flatMap { state.vms[$0] }?.tdxConnect ?? false
            for piece in verdict.pieces {
                legacyUpdate(piece) {
                    $0.accepted = seq
                    if pins { $0.tdPin = seq }
                }
            }
        case .pin(_, let holder):
            guard succeeded else { return }
            for piece in verdict.pieces {
                legacyUpdate(piece) {
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
                    legacyUpdate(FileSpan(file: piece.file, pages: run.range)) {
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
        case .populate, .convertRequest, .hostAccess, .reuse, .mce, .vmBugged, .gmemCreate, .context, .gap, .retract:
            return
        }
    }

    /// The memory change of a zap: on success the page is unmapped, un-accepted, out of
    /// quarantine and its failure forgotten; on an EIO failure the mapped `td`-pinned pages
    /// remember the failure, and the pages the engine quarantines remember by what.
    mutating func legacyRecordZap(seq: Int64, verdict: Verdict, state: GmemState, succeeded: Bool, failed: Bool) {
        if succeeded {
            for piece in verdict.pieces {
                legacyUpdate(piece) {
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
            for span in legacySpans(piece, state, where: verdict.kernel.removalFails) {
                legacyUpdate(span) { $0.failure = seq; $0.failureCause = .tdPin }
            }
        }
        for piece in verdict.blocked {
            legacyUpdate(piece) { if $0.quarantined == nil { $0.quarantined = seq } }
        }
    }

    /// The memory change of a removal that goes on past failures (upstream-2026): every page is
    /// unmapped, un-accepted and its failure forgotten (no mapping is left for a retry to meet);
    /// when `failed`, the pages whose removal failed remember the event that quarantined them.
    mutating func legacyRecordRemoval(seq: Int64, verdict: Verdict, failed: Bool) {
        for piece in verdict.pieces {
            legacyUpdate(piece) {
                $0.mapped = nil
                $0.accepted = nil
                $0.failure = nil
                $0.failureCause = .none
            }
        }
        guard failed else { return }
        for piece in verdict.blocked {
            legacyUpdate(piece) { if $0.quarantined == nil { $0.quarantined = seq } }
        }
    }

    /// Records what the engine's commit of `event` changed: new files get their memory, and a VM
    /// that died remembers the event that killed it.
    mutating func legacyRecordAfterCommit(seq: Int64, vm: String?, wasAlive: Bool, state: GmemState) {
        while files.count < state.files.count {
            let file = state.files[files.count]
            var page = PageMemory()
            if file.pages[0]?.shareability == .private { page.madePrivate = seq }
            files.append(RangeMap(0..<file.pageCount, page))
        }
        if wasAlive, let vm, let life = state.vms[vm]?.life, life.isDead { vmDeath[vm] = seq }
    }

    func legacySpans(_ piece: Piece, _ state: GmemState, where predicate: (PageState) -> Bool) -> [FileSpan] {
        state.files[piece.file].pages.ranges(in: piece.pages, where: predicate).map { FileSpan(file: piece.file, pages: $0) }
    }

    mutating func legacyUpdate(_ piece: Piece, _ change: (inout PageMemory) -> Void) {
        legacyUpdate(FileSpan(file: piece.file, pages: piece.pages), change)
    }

    mutating func legacyUpdate(_ span: FileSpan, _ change: (inout PageMemory) -> Void) {
        guard span.file < files.count else { return }
        files[span.file].modify(span.pages, change)
    }
}
