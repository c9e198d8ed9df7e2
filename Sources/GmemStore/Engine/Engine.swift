/// Replays events into page state. Pure: no I/O, no SQLite. For each event it computes the
/// outcome the kernel would give from the state before it (EVENTS.md §4, docs/MODEL.md) and then
/// applies the state change that the observed result (or, when none was observed, the expected
/// one) implies.
public struct Engine: Equatable, Sendable {
    public internal(set) var state: GmemState
    /// When set, every VM is judged by this profile instead of its own (`audit --kernel`,
    /// `state --kernel`: what that kernel would have said). Not part of the state.
    public let kernelOverride: KernelProfile?

    public init(state: GmemState = GmemState(), kernelOverride: KernelProfile? = nil) {
        self.state = state
        self.kernelOverride = kernelOverride
    }

    /// The profile that judges events of the VM named `vm`: the override, else the VM's own,
    /// else the standard one (an unknown VM).
    public func profile(of vm: String?) -> KernelProfile {
        kernelOverride ?? vm.flatMap { state.vms[$0]?.kernel } ?? .standard
    }

    /// Judges `event` and applies it.
    @discardableResult
    public mutating func apply(_ event: Event) -> Verdict {
        let verdict = evaluate(event)
        commit(event, verdict)
        return verdict
    }

    // MARK: Judging

    /// The verdict on `event` given the current state. Does not change the state.
    public func evaluate(_ event: Event) -> Verdict {
        var verdict = Verdict()
        judge(event, into: &verdict)
        return verdict
    }

    /// What the judgement of an event needs of its VM: read out of `state.vms` at once, so that
    /// no copy of the VM (its bindings, their dictionary and array) is made and kept per event.
    private struct VMFacts {
        var life: VMLife
        var kernel: KernelProfile
    }

    /// The facts of the VM named `name` (`state.vms[name]`), from the recent names when they
    /// hold it.
    private func vmFacts(_ name: String) -> VMFacts? {
        var isRecent = false
        return vmFacts(name, isRecent: &isRecent)
    }

    /// `vmFacts(name)`; `isRecent` says whether the recent names held the VM.
    @inline(__always)
    private func vmFacts(_ name: String, isRecent: inout Bool) -> VMFacts? {
        if let position = state.recent.vmPosition(name) {
            isRecent = true
            return VMFacts(life: state.recent.vms[position].life, kernel: state.recent.vms[position].kernel)
        }
        isRecent = false
        return state.vms[name].map { VMFacts(life: $0.life, kernel: $0.kernel) }
    }

    /// `evaluate`'s body, writing into the caller's verdict (returned without a copy).
    private func judge(_ event: Event, into verdict: inout Verdict) {
        // A gpa range's VM is looked up by `place`; every other event's VM once here.
        var placedVM: VMFacts??
        // Whether the lookups found the names `commit` keeps among the recent names (the VM's
        // and the first piece's file) there already (`Verdict.namesAreRecent`).
        var namesAreRecent = false
        if let range = event.op.range { placedVM = place(range, into: &verdict, namesAreRecent: &namesAreRecent) }
        verdict.vm = vmName(of: event, placedIn: verdict.pieces.first?.file)
        // The event's VM, looked up once for the whole judgement.
        let vm: VMFacts?
        if let placedVM {
            vm = placedVM
        } else if let name = verdict.vm {
            var vmIsRecent = false
            vm = vmFacts(name, isRecent: &vmIsRecent)
            // A file range's file was found by `place`, its VM here.
            namesAreRecent = namesAreRecent && vmIsRecent
        } else {
            vm = nil
        }
        verdict.namesAreRecent = namesAreRecent
        if case .vmCreate = event.op {
            verdict.kernel = kernelOverride ?? event.kernel ?? .standard
        } else {
            verdict.kernel = kernelOverride ?? vm?.kernel ?? .standard
        }
        // A convert's scan of its range says whether every page already is `to`; when it
        // walked the whole range, the early return needs no second walk.
        var everyPageIsTo: Bool?
        verdict.expected = expectedOutcome(event, &verdict, vm, everyPageIsTo: &everyPageIsTo)?.rawValue
        if let observed = event.outcome, let expected = verdict.expectedOutcome {
            if observed != expected {
                verdict.diverged = true
            } else if let offset = event.errorOffset, let expectedOffset = verdict.expectedErrorOffset, offset != expectedOffset {
                verdict.diverged = true
            }
        }
        if case .convert(_, let to) = event.op {
            let returned: Bool
            if let everyPageIsTo {
                returned = everyPageIsTo && verdict.kernel.unchangedConversionReturnsEarly && verdict.effectiveOutcome(of: event) == .ok
            } else {
                returned = returnsEarly(event, verdict, to: to)
            }
            verdict.returnedEarly = returned
        }
    }

    /// Whether a conversion judged by `verdict` returns early and changes nothing: it goes
    /// through, its profile returns early on a conversion that changes nothing, and every page
    /// of its range already is `to` (`Verdict.returnedEarly`).
    func returnsEarly(_ event: Event, _ verdict: Verdict, to: Shareability) -> Bool {
        guard verdict.kernel.unchangedConversionReturnsEarly, verdict.effectiveOutcome(of: event) == .ok else { return false }
        return !verdict.pieces.contains { state.files[$0.file].pages.firstPage(in: $0.pages, where: { $0.shareability != to }) != nil }
    }

    /// The name of the VM `event` acts on; `placedIn`: the file its range was placed in, if any
    /// (only that is passed, not the verdict, which the caller is changing: a copy of it per event).
    private func vmName(of event: Event, placedIn placedFile: Int?) -> String? {
        switch event.op {
        case .vmCreate(let vm, _, _), .vmDestroy(let vm), .vmBugged(let vm, _), .gmemCreate(let vm, _, _, _, _),
            .bind(let vm, _, _, _, _, _, _), .unbind(let vm, _), .convertRequest(let vm, _, _, _, _):
            return vm
        case .gmemClose(let gmem):
            return state.file(gmem)?.vm
        case .reuse, .mce, .context, .gap, .retract:
            return nil
        default:
            switch event.op.range {
            case .guest(let vm, _, _): return vm
            case .file(let gmem, _, _):
                // A placed range names its file already: no second lookup of the gmem.
                if let placedFile { return state.files[placedFile].vm }
                return state.file(gmem)?.vm
            case nil: return nil
            }
        }
    }

    /// The outcome `event` would get. For a `convert` whose scan walked its whole range, sets
    /// `everyPageIsTo` (whether every page of the range already has the requested shareability).
    private func expectedOutcome(_ event: Event, _ verdict: inout Verdict, _ vm: VMFacts?, everyPageIsTo: inout Bool?) -> Outcome? {
        if case .vmDestroy(let name) = event.op, vm != nil {
            // Teardown unmaps every page of the VM's files, also when the VM is bugged.
            verdict.pieces = Pieces(filePieces { $0.vm == name })
        }
        if let vm, vm.life.isDead, !verdict.kernel.stillRuns(event, on: vm.life) {
            if case .vmDestroy = event.op, vm.life == .bugged { return .ok }
            if case .vmCreate = event.op { return .ok }
            verdict.refused = true
            return .EIO
        }
        switch event.op {
        case .vmCreate, .vmBugged, .reuse, .mce, .context, .retract:
            return .ok
        case .gap:
            // It may have touched any page: every open file is its range (docs/MODEL.md "Gaps").
            verdict.pieces = Pieces(filePieces { _ in true })
            return .ok
        case .vmDestroy(let name):
            guard state.vms[name] != nil else { return unresolved(&verdict, "unknown vm '\(name)'") }
            return .ok
        case .gmemCreate(let name, _, _, _, _):
            if state.vms[name] == nil { verdict.unresolvedReason = "unknown vm '\(name)'" }
            return .ok
        case .gmemClose(let gmem):
            guard let index = state.fileIndex[gmem], state.files[index].isOpen else {
                return unresolved(&verdict, state.fileIndex[gmem] == nil ? "unknown gmem '\(gmem)'" : "gmem '\(gmem)' is already closed")
            }
            verdict.pieces = Pieces(Piece(file: index, pages: 0..<state.files[index].pageCount, address: 0))
            if verdict.kernel.closeZaps { return removalOutcome(&verdict, reportsFailure: false) }
            return .ok
        case .bind(let vmName, let gmem, let slot, let gpa, let size, let offset, _):
            guard let vm = state.vms[vmName] else { return unresolved(&verdict, "unknown vm '\(vmName)'") }
            guard let index = state.fileIndex[gmem], state.files[index].isOpen else {
                return unresolved(&verdict, "unknown gmem '\(gmem)'")
            }
            let file = state.files[index]
            if file.vm != vmName || offset + size > file.size { return .EINVAL }
            let pages = (offset / pageSize)..<((offset + size) / pageSize)
            for (otherSlot, other) in vm.bindings where otherSlot != slot {
                if other.gpaRange.overlaps(gpa..<(gpa + size)) { return .EEXIST }
            }
            for (_, other) in state.vms {
                for binding in other.bindings.values where binding.gmem == gmem && !(other == vm && binding.slot == slot) {
                    let bound = (binding.offset / pageSize)..<((binding.offset + binding.size) / pageSize)
                    if bound.overlaps(pages) { return .EEXIST }
                }
            }
            verdict.pieces = Pieces(Piece(file: index, pages: pages, address: offset))
            return .ok
        case .unbind(let vmName, let slot):
            guard let vm = state.vms[vmName] else { return unresolved(&verdict, "unknown vm '\(vmName)'") }
            guard let binding = vm.bindings[slot], let index = state.fileIndex[binding.gmem] else {
                return unresolved(&verdict, "vm '\(vmName)' has no slot \(slot)")
            }
            let lower = binding.offset / pageSize
            let upper = min(lower + binding.size / pageSize, state.files[index].pageCount)
            if lower < upper {
                verdict.pieces = Pieces(Piece(file: index, pages: lower..<upper, address: binding.gpa))
            }
            return removalOutcome(&verdict, reportsFailure: false)
        default:
            break
        }
        // Ops on a memory range.
        guard !verdict.pieces.isEmpty else { return nil }
        switch event.op {
        case .populate, .map, .pin, .convertRequest:
            return .ok
        case .punchHole:
            return removalOutcome(&verdict, reportsFailure: false)
        case .zap:
            return removalOutcome(&verdict, reportsFailure: true)
        case .convert(_, let to):
            // One walk of the range answers every question the rule asks (EVENTS.md §4a).
            let scan = conversionScan(verdict.pieces, to: to, verdict.kernel)
            // The scan stops at the first host pin of a conversion to private only.
            if to == .shared || scan.firstHostPin == nil { everyPageIsTo = !scan.anyOther }
            if to == .private, let page = scan.firstHostPin {
                verdict.expectedErrorOffset = page
                return .EAGAIN
            }
            if verdict.kernel.unchangedConversionReturnsEarly, !scan.anyOther {
                return .ok
            }
            if to == .private, verdict.kernel.sharedToPrivateZapsOnlyShared, !scan.anyPrivate {
                return .ok
            }
            verdict.blocked = scan.blocked
            guard verdict.hasBlocked else { return .ok }
            return verdict.kernel.failedRemovalStopsTheOperation ? .EIO : .ok
        case .accept:
            return firstPage(verdict.pieces, where: { $0.accepted }) == nil ? .ok : .TDX_PAGE_ALREADY_ACCEPTED
        case .release(_, let holder):
            guard firstPage(verdict.pieces, where: { $0.pins[holder] == 0 }) == nil else {
                return holder == .td ? .TDX_OPERAND_INVALID : .EINVAL
            }
            return .ok
        case .hostAccess:
            if verdict.pieces.contains(where: { !state.files[$0.file].isMappable }) { return .ENODEV }
            return firstPage(verdict.pieces, where: { $0.shareability == .private }) == nil ? .ok : .SIGBUS
        default:
            return .ok
        }
    }

    private func unresolved(_ verdict: inout Verdict, _ reason: String) -> Outcome? {
        verdict.unresolvedReason = reason
        return nil
    }

    /// The removal rule: the S-EPT removal of the pages the profile says the TD holds fails
    /// (`verdict.blocked`). The outcome is `EIO` when one fails and the profile stops the
    /// operation there, or the event is a `zap` (the SEAMCALL's own failure); else `ok`.
    func removalOutcome(_ verdict: inout Verdict, reportsFailure: Bool) -> Outcome {
        verdict.blocked = blockedPieces(verdict.pieces, verdict.kernel)
        guard verdict.hasBlocked else { return .ok }
        return verdict.kernel.failedRemovalStopsTheOperation || reportsFailure ? .EIO : .ok
    }

    /// The runs of `pieces` whose S-EPT removal fails under `profile`.
    func blockedPieces(_ pieces: Pieces, _ profile: KernelProfile) -> [Piece] {
        Self.blocked(pieces, profile, in: state)
    }

    /// The runs of `pieces` whose S-EPT removal fails under `profile` in `state`.
    static func blocked(_ pieces: Pieces, _ profile: KernelProfile, in state: GmemState) -> [Piece] {
        var blocked: [Piece] = []
        for piece in pieces {
            for range in state.files[piece.file].pages.ranges(in: piece.pages, where: profile.removalFails) {
                blocked.append(Piece(file: piece.file, pages: range, address: piece.address(ofPage: range.lowerBound)))
            }
        }
        return blocked
    }

    /// What a conversion's rule asks of its pages, from one walk of their runs: the first page
    /// with a host pin (event-addressed), whether a page is not already `to`, whether a page is
    /// private, and the runs whose S-EPT removal fails under `profile` (as `blockedPieces`).
    private func conversionScan(_ pieces: Pieces, to: Shareability, _ profile: KernelProfile)
        -> (firstHostPin: UInt64?, anyOther: Bool, anyPrivate: Bool, blocked: [Piece])
    {
        var firstHostPin: UInt64?
        var anyOther = false
        var anyPrivate = false
        var blocked: [Piece] = []
        for piece in pieces {
            var open: Range<UInt64>?
            state.files[piece.file].pages.forEachRun(in: piece.pages) { run in
                let page = run.value
                if firstHostPin == nil, page.pins.hasHostPin {
                    firstHostPin = piece.address(ofPage: run.lower)
                    // A conversion to private stops at the first host pin (EAGAIN).
                    if to == .private { return false }
                }
                if page.shareability != to { anyOther = true }
                if page.shareability == .private { anyPrivate = true }
                if profile.removalFails(page) {
                    if let range = open, range.upperBound == run.lower {
                        open = range.lowerBound..<run.upper
                    } else {
                        if let range = open { blocked.append(Piece(file: piece.file, pages: range, address: piece.address(ofPage: range.lowerBound))) }
                        open = run.range
                    }
                }
                return true
            }
            if let range = open { blocked.append(Piece(file: piece.file, pages: range, address: piece.address(ofPage: range.lowerBound))) }
            if to == .private, firstHostPin != nil { break }
        }
        return (firstHostPin, anyOther, anyPrivate, blocked)
    }

    /// The event-addressed address of the first page of `pieces` that satisfies `predicate`.
    private func firstPage(_ pieces: Pieces, where predicate: (PageState) -> Bool) -> UInt64? {
        for piece in pieces {
            if let page = state.files[piece.file].pages.firstPage(in: piece.pages, where: predicate) {
                return piece.address(ofPage: page)
            }
        }
        return nil
    }

    private func filePieces(_ predicate: (GmemFile) -> Bool) -> [Piece] {
        state.files.indices.compactMap { index in
            let file = state.files[index]
            guard file.isOpen, predicate(file) else { return nil }
            return Piece(file: index, pages: 0..<file.pageCount, address: 0)
        }
    }

    /// Resolves a range to file pages (EVENTS.md §2, docs/MODEL.md "Addressing"). For a gpa
    /// range, gives the VM it looked up (`.some(nil)`: no such VM); nil for a file range.
    /// `namesAreRecent`: set when the range was placed, its file (a file range) or its VM and
    /// the file of its first piece (a gpa range) found among the recent names; else false.
    private func place(_ range: MemoryRange, into verdict: inout Verdict, namesAreRecent: inout Bool) -> VMFacts?? {
        namesAreRecent = false
        switch range {
        case .file(let gmem, let offset, let size):
            var fileIsRecent = false
            guard let index = state.currentFileIndex(gmem, isRecent: &fileIsRecent) else {
                verdict.unresolvedReason = "unknown gmem '\(gmem)'"
                verdict.unresolved = [offset..<(offset + size)]
                return nil
            }
            // The fields read in place: a copy of the file would retain its name, VM, flags and runs.
            guard state.files[index].isOpen else {
                verdict.unresolvedReason = "gmem '\(gmem)' is closed"
                verdict.unresolved = [offset..<(offset + size)]
                return nil
            }
            let fileSize = state.files[index].size
            guard offset + size <= fileSize else {
                verdict.unresolvedReason = "offset \(hex(offset)) + size \(hex(size)) passes the end of gmem '\(gmem)' (size \(hex(fileSize)))"
                verdict.unresolved = [offset..<(offset + size)]
                return nil
            }
            verdict.pieces = Pieces(Piece(file: index, pages: (offset / pageSize)..<((offset + size) / pageSize), address: offset))
            namesAreRecent = fileIsRecent
            return nil
        case .guest(let vmName, let gpa, let size):
            let end = gpa + size
            let bindings: [Binding]
            let facts: VMFacts
            var vmIsRecent = false
            if let position = state.recent.vmPosition(vmName) {
                bindings = state.recent.vms[position].bindingsByAddress
                facts = VMFacts(life: state.recent.vms[position].life, kernel: state.recent.vms[position].kernel)
                vmIsRecent = true
            } else if let vm = state.vms[vmName] {
                bindings = vm.bindingsByAddress
                facts = VMFacts(life: vm.life, kernel: vm.kernel)
            } else {
                verdict.unresolvedReason = "unknown vm '\(vmName)'"
                verdict.unresolved = [gpa..<end]
                return .some(nil)
            }
            var cursor = gpa
            // Overlapping bindings exist only when a log says an overlapping bind succeeded;
            // a page then resolves through the binding with the lowest gpa (then slot).
            for binding in bindings where binding.gpaRange.overlaps(gpa..<end) {
                let lower = max(gpa, binding.gpa, cursor)
                let upper = min(end, binding.gpa + binding.size)
                guard lower < upper else { continue }
                if cursor < lower { verdict.unresolved.append(cursor..<lower) }
                cursor = upper
                var fileIsRecent = false
                guard let index = state.currentFileIndex(binding.gmem, isRecent: &fileIsRecent), state.files[index].isOpen else {
                    verdict.unresolved.append(lower..<upper)
                    continue
                }
                // A binding a log claims past the file's end places only the pages that exist.
                let firstPage = (lower - binding.gpa + binding.offset) / pageSize
                let lastPage = min(firstPage + (upper - lower) / pageSize, state.files[index].pageCount)
                if firstPage < lastPage {
                    if verdict.pieces.isEmpty { namesAreRecent = vmIsRecent && fileIsRecent }
                    verdict.pieces.append(Piece(file: index, pages: firstPage..<lastPage, address: lower))
                }
                if lastPage < firstPage + (upper - lower) / pageSize {
                    verdict.unresolved.append((lower + (lastPage > firstPage ? lastPage - firstPage : 0) * pageSize)..<upper)
                }
            }
            if cursor < end { verdict.unresolved.append(cursor..<end) }
            if !verdict.unresolved.isEmpty {
                verdict.unresolvedReason = "no memslot of vm '\(vmName)' binds gpa " +
                    verdict.unresolved.map { "\(hex($0.lowerBound))-\(hex($0.upperBound))" }.joined(separator: ", ")
            }
            return .some(facts)
        }
    }

    // MARK: Applying

    /// Applies the state change `event` implies: the observed result decides; without one, the
    /// verdict's expected outcome does.
    public mutating func commit(_ event: Event, _ verdict: Verdict) {
        var ignored = IgnoredTransitions()
        commit(event, verdict, into: &ignored)
    }

    /// Applies the state change `event` implies (`commit(_:_:)`) and hands each transition it
    /// makes to `fold`, in order (docs/MODEL.md "One state machine").
    public mutating func commit<Fold: TransitionFold>(_ event: Event, _ verdict: Verdict, into fold: inout Fold) {
        // The names this event used, kept for the next events (`RecentNames`), unless the
        // evaluation found them kept already.
        if !verdict.namesAreRecent { state.rememberNames(vm: verdict.vm, file: verdict.pieces.first?.file) }
        // The effective outcome (`Verdict.effectiveOutcome(of:)`) spelled out on a name that is
        // not optional: keeping the `String?` it was chosen from copied that optional through
        // its generic value witness, per event.
        let effectiveName: String
        if let result = event.result {
            effectiveName = result
        } else if let expected = verdict.expected {
            effectiveName = expected
        } else {
            return
        }
        let effective = Outcome(rawValue: effectiveName)
        let succeeded = effective == .ok
        let zapFailed = !succeeded && effective == .EIO
        let profile = verdict.kernel
        // An event its dead VM refused did nothing (rfc-2025 keeps a refused unbind's unbinding).
        if verdict.refused, !succeeded, profile.refusalHasNoEffect { return }
        // The profile decides whether a failed S-EPT removal stops a zapping operation (the old
        // zap rule) or lets it go on; an observed EIO on an operation whose caller gets no error
        // is applied the old way in both (EVENTS.md §4a, last row).
        let stops = profile.failedRemovalStopsTheOperation || !succeeded
        switch event.op {
        case .vmCreate(let vm, let type, let tdxConnect):
            guard succeeded else { return }
            state.vms[vm] = VirtualMachine(type: type, tdxConnect: tdxConnect, kernel: profile)
            fold.fold(.vmCreated(vm: vm))
        case .vmDestroy(let vm):
            guard succeeded, let before = state.vms[vm] else { return }
            state.vms[vm]!.life = .destroyed
            state.vms[vm]!.bindings = [:]
            if before.life == .alive { fold.fold(.vmDied(vm: vm)) }
            for piece in verdict.pieces {
                update(piece) { $0.mapped = false; $0.accepted = false }
                fold.fold(.tornDown(piece))
                if !profile.quarantineEndsAtTeardown { foldQuarantined(piece, into: &fold) }
            }
            if profile.quarantineEndsAtTeardown { reclaimQuarantine(of: vm, into: &fold) }
        case .vmBugged(let vm, _):
            if succeeded, state.vms[vm]?.life == .alive {
                state.vms[vm]!.life = .bugged
                fold.fold(.vmDied(vm: vm))
            }
        case .gmemCreate(let vm, let gmem, let size, let flags, let folioSize):
            guard succeeded else { return }
            let initial = PageState(shareability: flags.contains("init_shared") ? .shared : .private)
            state.files.append(GmemFile(
                name: gmem, vm: vm, size: size, flags: flags, folioSize: folioSize,
                pages: RangeMap(0..<(size / pageSize), initial)))
            state.fileIndex[gmem] = state.files.count - 1
            fold.fold(.fileCreated(file: state.files.count - 1, pages: size / pageSize, shareability: initial.shareability))
        case .gmemClose:
            guard succeeded, let piece = verdict.pieces.first else { return }
            fold.fold(.fileClosed(file: piece.file))
            if profile.closeZaps { removeMappings(verdict, failed: verdict.hasBlocked, into: &fold) }
            state.files[piece.file].isOpen = false
            foldQuarantined(piece, into: &fold)
            releaseFrames(piece) { $0.pins.isEmpty && !$0.quarantined }
            // A closed file keeps only the pages that still hold something: a pin or a
            // quarantine (and so their frames). The rest is gone with the file, so that memory
            // follows what is live, not how many files the log has closed.
            state.files[piece.file].pages.update(piece.pages) { _, page in
                guard let page, !page.pins.isEmpty || page.quarantined else { return nil }
                return page
            }
        case .bind(let vm, let gmem, let slot, let gpa, let size, let offset, let hva):
            if succeeded, state.vms[vm] != nil {
                state.vms[vm]!.bindings[slot] = Binding(slot: slot, gmem: gmem, gpa: gpa, size: size, offset: offset, hva: hva)
                fold.fold(.bound(vm: vm, gpaPages: (gpa / pageSize)..<((gpa + size) / pageSize)))
            }
        case .unbind(let vm, let slot):
            guard succeeded || zapFailed else { return }
            if let binding = state.vms[vm]?.bindings[slot] {
                fold.fold(.unbound(vm: vm, gpaPages: (binding.gpa / pageSize)..<((binding.gpa + binding.size) / pageSize)))
            }
            if stops {
                applyZap(verdict, succeeded: succeeded, failed: zapFailed, into: &fold)
            } else {
                removeMappings(verdict, failed: verdict.hasBlocked, into: &fold)
            }
            state.vms[vm]?.bindings[slot] = nil
        case .punchHole:
            // A removal that goes on and fails nowhere only unmaps: done in the same walk as
            // the freeing below (it touches none of the fields that walk reads).
            let unmapsInPlace = !stops && !verdict.hasBlocked
            if stops {
                applyZap(verdict, succeeded: succeeded, failed: zapFailed, into: &fold)
            } else if !unmapsInPlace {
                removeMappings(verdict, failed: true, into: &fold)
            } else {
                for piece in verdict.pieces { fold.fold(.zapped(piece, endsQuarantine: false)) }
            }
            if succeeded {
                // The folios go back to the host; a quarantined page's frame stays recorded,
                // because the TDX module still maps it (upstream-2026).
                for piece in verdict.pieces {
                    // The frames are let go in the walk that frees the pages (`releaseFrames`).
                    var freed = FreedFrames()
                    state.files[piece.file].pages.modify(piece.pages, withPages: { pages, page in
                        if !page.quarantined { freed.note(pages, page) }
                        if unmapsInPlace { page.mapped = false; page.accepted = false }
                        page.populated = false
                        if !page.quarantined { page.frameDelta = nil }
                    })
                    forget(freed, file: piece.file)
                    fold.fold(.holePunched(piece))
                }
            }
        case .zap:
            if profile.failedRemovalStopsTheOperation {
                applyZap(verdict, succeeded: succeeded, failed: zapFailed, into: &fold)
            } else if succeeded || zapFailed {
                // An observed ok says the removal worked; an EIO that some removal failed.
                removeMappings(verdict, failed: zapFailed, into: &fold)
            }
        case .convert(_, let to):
            if stops {
                if effective == .EAGAIN {
                    // The folio references the conversion met stay until they are released.
                    for piece in verdict.pieces { foldFailures(piece, cause: .hostPin, where: { $0.pins.hasHostPin }, into: &fold) }
                }
                var failure = verdict
                // A conversion that returned early attempted no removal; an observed EIO still
                // names the pages the TD holds.
                if zapFailed, failure.blocked.isEmpty, !verdict.refused, !profile.failedRemovalStopsTheOperation {
                    failure.blocked = blockedPieces(verdict.pieces, profile)
                }
                applyZap(failure, succeeded: false, failed: zapFailed, into: &fold)
            }
            guard succeeded else { return }
            let cleared: ConversionRequest = to == .shared ? .shared : .private
            if verdict.returnedEarly ?? returnsEarly(event, verdict, to: to) {
                for piece in verdict.pieces {
                    update(piece) { if $0.requested == cleared { $0.requested = .none } }
                    fold.fold(.alreadyConverted(piece, to: to))
                }
                return
            }
            // Without a failed removal, unmapping is part of the conversion's own walk below.
            if !stops, verdict.hasBlocked { removeMappings(verdict, failed: true, into: &fold) }
            let endsQuarantine = !profile.quarantineEndsAtTeardown
            for piece in verdict.pieces {
                update(piece) {
                    $0.shareability = to
                    $0.mapped = false
                    $0.accepted = false
                    if endsQuarantine { $0.quarantined = false }
                    if $0.requested == cleared { $0.requested = .none }
                }
                fold.fold(.converted(piece, to: to, endsQuarantine: endsQuarantine))
            }
        case .populate(let range, let pfn):
            guard succeeded else { return }
            for piece in verdict.pieces {
                // The frames the pages had are let go, read in the walk that gives them the new
                // ones (`releaseFrames`, without a walk of its own).
                var freed = FreedFrames()
                guard let pfn else {
                    state.files[piece.file].pages.modify(piece.pages, withPages: { pages, page in
                        freed.note(pages, page)
                        page.populated = true
                        page.frameDelta = nil
                    })
                    forget(freed, file: piece.file)
                    fold.fold(.populated(piece, firstFrame: nil))
                    continue
                }
                let firstFrame = piece.firstFrame(populating: range, from: pfn)
                let delta = Int64(bitPattern: firstFrame &- piece.pages.lowerBound)
                state.files[piece.file].pages.modify(piece.pages, withPages: { pages, page in
                    freed.note(pages, page)
                    page.populated = true
                    page.frameDelta = delta
                })
                forget(freed, file: piece.file)
                if let frames = FrameOwner.frames(from: firstFrame, count: piece.pages.count) {
                    state.frames.assign(frames, FrameOwner(file: piece.file, pageDelta: -delta))
                }
                fold.fold(.populated(piece, firstFrame: firstFrame))
            }
        case .map:
            guard succeeded else { return }
            for piece in verdict.pieces {
                update(piece) { $0.mapped = true }
                fold.fold(.mapped(piece))
            }
        case .convertRequest(_, _, _, let to, _):
            guard succeeded else { return }
            let request: ConversionRequest = to == .shared ? .shared : .private
            for piece in verdict.pieces {
                update(piece) { $0.requested = request }
                fold.fold(.requested(piece, to: to))
            }
        case .accept:
            guard succeeded else { return }
            let pins = verdict.vm.map { vm in
                if let position = state.recent.vmPosition(vm) { return state.recent.vms[position].tdxConnect }
                return state.vms[vm]?.tdxConnect ?? false
            } ?? false
            for piece in verdict.pieces {
                update(piece) {
                    $0.accepted = true
                    if pins { $0.pins.td &+= 1 }
                }
                fold.fold(.accepted(piece, pinnedByTD: pins))
            }
        case .pin(_, let holder):
            guard succeeded else { return }
            for piece in verdict.pieces {
                update(piece) { $0.pins[holder] &+= 1 }
                fold.fold(.pinned(piece, holder: holder))
            }
        case .release(_, let holder):
            guard succeeded else { return }
            for piece in verdict.pieces {
                update(piece) {
                    if $0.pins[holder] > 0 { $0.pins[holder] -= 1 }
                    if holder == .td { $0.accepted = false }
                }
                guard !Fold.ignoresTransitions else { continue }
                state.files[piece.file].pages.forEachRun(in: piece.pages) { run in
                    fold.fold(.released(FileSpan(file: piece.file, pages: run.range), holder: holder, remaining: run.value.pins))
                    return true
                }
            }
        case .hostAccess, .mce, .context, .gap, .retract:
            return
        case .reuse(let pfn, let npages, let owner):
            guard succeeded else { return }
            let (end, overflow) = pfn.addingReportingOverflow(npages)
            let frames = pfn..<(overflow ? UInt64.max : end)
            state.reusedFrames.assign(frames, owner ?? "unknown")
            fold.fold(.reused(frames: frames, owner: owner ?? "unknown"))
        }
    }

    /// The state change of a zap: on success, unmapped, un-accepted, quarantine cleared; on
    /// failure, the VM bugged and the blocking pages quarantined.
    private mutating func applyZap<Fold: TransitionFold>(_ verdict: Verdict, succeeded: Bool, failed: Bool, into fold: inout Fold) {
        if succeeded {
            for piece in verdict.pieces {
                update(piece) { $0.mapped = false; $0.accepted = false; $0.quarantined = false }
                fold.fold(.zapped(piece, endsQuarantine: true))
            }
            return
        }
        guard failed else { return }
        // Every page whose removal fails remembers it, also where the VM had refused the event.
        for piece in verdict.pieces { foldFailures(piece, cause: .tdPin, where: verdict.kernel.removalFails, into: &fold) }
        if let vm = verdict.vm, vmFacts(vm)?.life == .alive {
            state.vms[vm]!.life = .bugged
            fold.fold(.vmDied(vm: vm))
        } else if !verdict.hasBlocked {
            return
        }
        for piece in verdict.blocked {
            update(piece) { $0.quarantined = true }
            fold.fold(.quarantined(piece))
        }
    }

    /// A removal that goes on past failures (upstream-2026): every page of the event loses its
    /// mapping and acceptance; when `failed`, the VM is bugged and the pages whose removal failed
    /// are quarantined (the TDX module still maps them).
    private mutating func removeMappings<Fold: TransitionFold>(_ verdict: Verdict, failed: Bool, into fold: inout Fold) {
        for piece in verdict.pieces {
            update(piece) { $0.mapped = false; $0.accepted = false }
            fold.fold(.zapped(piece, endsQuarantine: false))
        }
        guard failed else { return }
        if let vm = verdict.vm, vmFacts(vm)?.life == .alive {
            state.vms[vm]!.life = .bugged
            fold.fold(.vmDied(vm: vm))
        }
        for piece in verdict.blocked {
            update(piece) { $0.quarantined = true }
            fold.fold(.quarantined(piece))
        }
    }

    /// The teardown of VM `vm` reclaims its frames from the TDX module: its pages, in open and
    /// closed files, leave quarantine, and the frames of quarantined pages whose folios were
    /// already freed are forgotten.
    private mutating func reclaimQuarantine<Fold: TransitionFold>(of vm: String, into fold: inout Fold) {
        for index in state.files.indices where state.files[index].vm == vm {
            let all = Piece(file: index, pages: 0..<state.files[index].pageCount, address: 0)
            for run in state.files[index].pages.runs(in: all.pages) where run.value.quarantined && !run.value.populated {
                guard let delta = run.value.frameDelta else { continue }
                let first = UInt64(bitPattern: Int64(bitPattern: run.lower) &+ delta)
                guard let frames = FrameOwner.frames(from: first, count: run.range.count), !frames.isEmpty else { continue }
                let owner = FrameOwner(file: index, pageDelta: -delta)
                state.frames.update(frames) { _, current in current == owner ? nil : current }
            }
            update(all) {
                guard $0.quarantined else { return }
                $0.quarantined = false
                if !$0.populated { $0.frameDelta = nil }
            }
            fold.fold(.reclaimed(FileSpan(file: index, pages: all.pages)))
        }
    }

    /// Hands `fold` a `failed` transition for each run of `piece` whose state satisfies
    /// `predicate` (merged), from the state as it is now.
    private func foldFailures<Fold: TransitionFold>(
        _ piece: Piece, cause: FailureCause, where predicate: (PageState) -> Bool, into fold: inout Fold
    ) {
        guard !Fold.ignoresTransitions else { return }
        forEachRange(of: piece, where: predicate) { fold.fold(.failed($0, cause: cause)) }
    }

    /// Hands `fold` a `leftQuarantined` transition for each run of `piece` that is quarantined
    /// now (merged).
    private func foldQuarantined<Fold: TransitionFold>(_ piece: Piece, into fold: inout Fold) {
        guard !Fold.ignoresTransitions else { return }
        forEachRange(of: piece, where: { $0.quarantined }) { fold.fold(.leftQuarantined($0)) }
    }

    /// Calls `body` with each merged run of `piece`'s pages whose state satisfies `predicate`,
    /// in page order, building no array.
    private func forEachRange(of piece: Piece, where predicate: (PageState) -> Bool, _ body: (FileSpan) -> Void) {
        var open: Range<UInt64>?
        state.files[piece.file].pages.forEachRun(in: piece.pages) { run in
            guard predicate(run.value) else { return true }
            if let range = open, range.upperBound == run.lower {
                open = range.lowerBound..<run.upper
            } else {
                if let range = open { body(FileSpan(file: piece.file, pages: range)) }
                open = run.range
            }
            return true
        }
        if let range = open { body(FileSpan(file: piece.file, pages: range)) }
    }

    /// Forgets the frames of the pages of `piece` that satisfy `predicate`.
    private mutating func releaseFrames(_ piece: Piece, where predicate: (PageState) -> Bool) {
        // The runs are walked on a copy of the map (it shares the storage, nothing is copied)
        // so that no array of them is built; the copy ends with this scope, before the pages
        // are changed.
        //
        // Touching runs with the same frame delta back contiguous frames, which one owner holds
        // (the pages of one populate, later split by maps, accepts or conversions): they are
        // freed by one update of the frames map, not one search of it per run.
        let pages = state.files[piece.file].pages
        var pending: (pages: Range<UInt64>, delta: Int64)?
        pages.forEachRun(in: piece.pages) { run in
            guard predicate(run.value), run.value.populated, let delta = run.value.frameDelta else { return true }
            if let open = pending, open.delta == delta, open.pages.upperBound == run.lower {
                pending = (open.pages.lowerBound..<run.upper, delta)
            } else {
                if let open = pending { forgetFrames(of: open.pages, delta: open.delta, file: piece.file) }
                pending = (run.range, delta)
            }
            return true
        }
        if let open = pending { forgetFrames(of: open.pages, delta: open.delta, file: piece.file) }
    }

    /// Forgets the frames `freed` collected from the pages of file `file`.
    private mutating func forget(_ freed: FreedFrames, file: Int) {
        for range in freed.closed { forgetFrames(of: range.pages, delta: range.delta, file: file) }
        if let range = freed.open { forgetFrames(of: range.pages, delta: range.delta, file: file) }
    }

    /// Forgets the frames behind pages `pages` of file `file` (frame = page + `delta`) where the
    /// frames map still gives them to those pages.
    private mutating func forgetFrames(of pages: Range<UInt64>, delta: Int64, file: Int) {
        let first = UInt64(bitPattern: Int64(bitPattern: pages.lowerBound) &+ delta)
        guard let frames = FrameOwner.frames(from: first, count: pages.count), !frames.isEmpty else { return }
        let owner = FrameOwner(file: file, pageDelta: -delta)
        state.frames.update(frames) { _, current in current == owner ? nil : current }
    }

    private mutating func update(_ piece: Piece, _ change: (inout PageState) -> Void) {
        state.files[piece.file].pages.modify(piece.pages, change)
    }
}

/// The frames a change of a piece's pages lets go, noted run by run as the change walks them
/// (the pages' states before the change) and forgotten once it is done: touching runs with the
/// same frame delta are merged, as `Engine.releaseFrames` merges them, so that they are freed by
/// one update of the frames map. Only populated pages with a recorded frame are noted.
private struct FreedFrames {
    /// The run being merged.
    private(set) var open: (pages: Range<UInt64>, delta: Int64)?
    /// The runs before it, in page order (none in the common case: no array is made).
    private(set) var closed: [(pages: Range<UInt64>, delta: Int64)] = []

    mutating func note(_ pages: Range<UInt64>, _ page: PageState) {
        guard page.populated, let delta = page.frameDelta else { return }
        if let current = open, current.delta == delta, current.pages.upperBound == pages.lowerBound {
            open = (current.pages.lowerBound..<pages.upperBound, delta)
        } else {
            if let current = open { closed.append(current) }
            open = (pages, delta)
        }
    }
}
