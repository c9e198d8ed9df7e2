/// Replays events into page state. Pure: no I/O, no SQLite. For each event it computes the
/// outcome the kernel would give from the state before it (EVENTS.md §4, docs/MODEL.md) and then
/// applies the state change that the observed result (or, when none was observed, the expected
/// one) implies.
public struct Engine: Equatable, Sendable {
    public private(set) var state: GmemState

    public init(state: GmemState = GmemState()) {
        self.state = state
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
        if let range = event.op.range { place(range, into: &verdict) }
        verdict.vm = vmName(of: event, verdict)
        verdict.expected = expectedOutcome(event, &verdict)
        if let observed = event.result, let expected = verdict.expected {
            if !observed.sameResultName(as: expected) {
                verdict.diverged = true
            } else if let offset = event.errorOffset, let expectedOffset = verdict.expectedErrorOffset, offset != expectedOffset {
                verdict.diverged = true
            }
        }
        return verdict
    }

    private func vmName(of event: Event, _ verdict: Verdict) -> String? {
        switch event.op {
        case .vmCreate(let vm, _, _), .vmDestroy(let vm), .vmBugged(let vm, _), .gmemCreate(let vm, _, _, _, _),
            .bind(let vm, _, _, _, _, _, _), .unbind(let vm, _), .convertRequest(let vm, _, _, _, _):
            return vm
        case .gmemClose(let gmem):
            return state.file(gmem)?.vm
        case .reuse, .mce, .context:
            return nil
        default:
            switch event.op.range {
            case .guest(let vm, _, _): return vm
            case .file(let gmem, _, _): return state.file(gmem)?.vm
            case nil: return nil
            }
        }
    }

    /// Ops that still work on a dead VM: the gmem file operations, the teardown of a bugged VM
    /// and KVM's own teardown zaps.
    func worksOnDeadVM(_ op: Operation) -> Bool {
        switch op {
        case .punchHole, .gmemClose, .populate, .hostAccess, .vmBugged, .mce, .reuse, .context: true
        case .release(_, let holder): holder.isHost
        case .zap(_, let reason): reason == "teardown"
        default: false
        }
    }

    private func expectedOutcome(_ event: Event, _ verdict: inout Verdict) -> String? {
        let vm = verdict.vm.flatMap { state.vms[$0] }
        if case .vmDestroy(let name) = event.op, vm != nil {
            // Teardown unmaps every page of the VM's files, also when the VM is bugged.
            verdict.pieces = filePieces { $0.vm == name }
        }
        if let vm, vm.life.isDead, !worksOnDeadVM(event.op) {
            if case .vmDestroy = event.op, vm.life == .bugged { return "ok" }
            if case .vmCreate = event.op { return "ok" }
            return "EIO"
        }
        switch event.op {
        case .vmCreate, .vmBugged, .reuse, .mce, .context:
            return "ok"
        case .vmDestroy(let name):
            guard state.vms[name] != nil else { return unresolved(&verdict, "unknown vm '\(name)'") }
            return "ok"
        case .gmemCreate(let name, _, _, _, _):
            if state.vms[name] == nil { verdict.unresolvedReason = "unknown vm '\(name)'" }
            return "ok"
        case .gmemClose(let gmem):
            guard let index = state.fileIndex[gmem], state.files[index].isOpen else {
                return unresolved(&verdict, state.fileIndex[gmem] == nil ? "unknown gmem '\(gmem)'" : "gmem '\(gmem)' is already closed")
            }
            verdict.pieces = [Piece(file: index, pages: 0..<state.files[index].pageCount, address: 0)]
            return "ok"
        case .bind(let vmName, let gmem, let slot, let gpa, let size, let offset, _):
            guard let vm else { return unresolved(&verdict, "unknown vm '\(vmName)'") }
            guard let index = state.fileIndex[gmem], state.files[index].isOpen else {
                return unresolved(&verdict, "unknown gmem '\(gmem)'")
            }
            let file = state.files[index]
            if file.vm != vmName || offset + size > file.size { return "EINVAL" }
            let pages = (offset / pageSize)..<((offset + size) / pageSize)
            for (otherSlot, other) in vm.bindings where otherSlot != slot {
                if other.gpaRange.overlaps(gpa..<(gpa + size)) { return "EEXIST" }
            }
            for (_, other) in state.vms {
                for binding in other.bindings.values where binding.gmem == gmem && !(other == vm && binding.slot == slot) {
                    let bound = (binding.offset / pageSize)..<((binding.offset + binding.size) / pageSize)
                    if bound.overlaps(pages) { return "EEXIST" }
                }
            }
            verdict.pieces = [Piece(file: index, pages: pages, address: offset)]
            return "ok"
        case .unbind(let vmName, let slot):
            guard let vm else { return unresolved(&verdict, "unknown vm '\(vmName)'") }
            guard let binding = vm.bindings[slot], let index = state.fileIndex[binding.gmem] else {
                return unresolved(&verdict, "vm '\(vmName)' has no slot \(slot)")
            }
            let lower = binding.offset / pageSize
            let upper = min(lower + binding.size / pageSize, state.files[index].pageCount)
            if lower < upper {
                verdict.pieces = [Piece(file: index, pages: lower..<upper, address: binding.gpa)]
            }
            return zapOutcome(&verdict)
        default:
            break
        }
        // Ops on a memory range.
        guard !verdict.pieces.isEmpty else { return nil }
        switch event.op {
        case .populate, .map, .pin, .convertRequest:
            return "ok"
        case .punchHole, .zap:
            return zapOutcome(&verdict)
        case .convert(_, let to):
            if to == .private, let page = firstPage(verdict.pieces, where: { $0.pins.hasHostPin }) {
                verdict.expectedErrorOffset = page
                return "EAGAIN"
            }
            return zapOutcome(&verdict)
        case .accept:
            return firstPage(verdict.pieces, where: { $0.accepted }) == nil ? "ok" : "TDX_PAGE_ALREADY_ACCEPTED"
        case .release(_, let holder):
            guard firstPage(verdict.pieces, where: { $0.pins[holder] == 0 }) == nil else {
                return holder == .td ? "TDX_OPERAND_INVALID" : "EINVAL"
            }
            return "ok"
        case .hostAccess:
            if verdict.pieces.contains(where: { !state.files[$0.file].isMappable }) { return "ENODEV" }
            return firstPage(verdict.pieces, where: { $0.shareability == .private }) == nil ? "ok" : "SIGBUS"
        default:
            return "ok"
        }
    }

    private func unresolved(_ verdict: inout Verdict, _ reason: String) -> String? {
        verdict.unresolvedReason = reason
        return nil
    }

    /// The zap rule: a mapped page with a `td` pin makes the S-EPT unmap fail.
    func zapOutcome(_ verdict: inout Verdict) -> String {
        for piece in verdict.pieces {
            for range in state.files[piece.file].pages.ranges(in: piece.pages, where: { $0.mapped && $0.pins.td > 0 }) {
                verdict.blocked.append(Piece(file: piece.file, pages: range, address: piece.address(ofPage: range.lowerBound)))
            }
        }
        return verdict.blocked.isEmpty ? "ok" : "EIO"
    }

    /// The event-addressed address of the first page of `pieces` that satisfies `predicate`.
    private func firstPage(_ pieces: [Piece], where predicate: (PageState) -> Bool) -> UInt64? {
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

    /// Resolves a range to file pages (EVENTS.md §2, docs/MODEL.md "Addressing").
    private func place(_ range: MemoryRange, into verdict: inout Verdict) {
        switch range {
        case .file(let gmem, let offset, let size):
            guard let index = state.fileIndex[gmem] else {
                verdict.unresolvedReason = "unknown gmem '\(gmem)'"
                verdict.unresolved = [offset..<(offset + size)]
                return
            }
            let file = state.files[index]
            guard file.isOpen else {
                verdict.unresolvedReason = "gmem '\(gmem)' is closed"
                verdict.unresolved = [offset..<(offset + size)]
                return
            }
            guard offset + size <= file.size else {
                verdict.unresolvedReason = "offset \(hex(offset)) + size \(hex(size)) passes the end of gmem '\(gmem)' (size \(hex(file.size)))"
                verdict.unresolved = [offset..<(offset + size)]
                return
            }
            verdict.pieces = [Piece(file: index, pages: (offset / pageSize)..<((offset + size) / pageSize), address: offset)]
        case .guest(let vmName, let gpa, let size):
            let end = gpa + size
            guard let vm = state.vms[vmName] else {
                verdict.unresolvedReason = "unknown vm '\(vmName)'"
                verdict.unresolved = [gpa..<end]
                return
            }
            var cursor = gpa
            // Overlapping bindings exist only when a log says an overlapping bind succeeded;
            // a page then resolves through the binding with the lowest gpa (then slot).
            for binding in vm.bindingsByAddress where binding.gpaRange.overlaps(gpa..<end) {
                let lower = max(gpa, binding.gpa, cursor)
                let upper = min(end, binding.gpa + binding.size)
                guard lower < upper else { continue }
                if cursor < lower { verdict.unresolved.append(cursor..<lower) }
                cursor = upper
                guard let index = state.fileIndex[binding.gmem], state.files[index].isOpen else {
                    verdict.unresolved.append(lower..<upper)
                    continue
                }
                // A binding a log claims past the file's end places only the pages that exist.
                let firstPage = (lower - binding.gpa + binding.offset) / pageSize
                let lastPage = min(firstPage + (upper - lower) / pageSize, state.files[index].pageCount)
                if firstPage < lastPage {
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
        }
    }

    // MARK: Applying

    /// Applies the state change `event` implies: the observed result decides; without one, the
    /// verdict's expected outcome does.
    public mutating func commit(_ event: Event, _ verdict: Verdict) {
        guard let effective = event.result ?? verdict.expected else { return }
        let succeeded = effective.sameResultName(as: "ok")
        let zapFailed = !succeeded && effective.sameResultName(as: "EIO")
        switch event.op {
        case .vmCreate(let vm, let type, let tdxConnect):
            if succeeded { state.vms[vm] = VirtualMachine(type: type, tdxConnect: tdxConnect) }
        case .vmDestroy(let vm):
            guard succeeded, state.vms[vm] != nil else { return }
            state.vms[vm]!.life = .destroyed
            state.vms[vm]!.bindings = [:]
            for piece in verdict.pieces {
                update(piece) { $0.mapped = false; $0.accepted = false }
            }
        case .vmBugged(let vm, _):
            if succeeded, state.vms[vm]?.life == .alive { state.vms[vm]!.life = .bugged }
        case .gmemCreate(let vm, let gmem, let size, let flags, let folioSize):
            guard succeeded else { return }
            let initial = PageState(shareability: flags.contains("init_shared") ? .shared : .private)
            state.files.append(GmemFile(
                name: gmem, vm: vm, size: size, flags: flags, folioSize: folioSize,
                pages: RangeMap(0..<(size / pageSize), initial)))
            state.fileIndex[gmem] = state.files.count - 1
        case .gmemClose:
            guard succeeded, let piece = verdict.pieces.first else { return }
            state.files[piece.file].isOpen = false
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
            }
        case .unbind(let vm, let slot):
            guard succeeded || zapFailed else { return }
            applyZap(verdict, succeeded: succeeded, failed: zapFailed)
            state.vms[vm]?.bindings[slot] = nil
        case .punchHole:
            applyZap(verdict, succeeded: succeeded, failed: zapFailed)
            if succeeded {
                for piece in verdict.pieces {
                    releaseFrames(piece) { _ in true }
                    update(piece) { $0.populated = false; $0.frameDelta = nil }
                }
            }
        case .zap:
            applyZap(verdict, succeeded: succeeded, failed: zapFailed)
        case .convert(_, let to):
            applyZap(verdict, succeeded: false, failed: zapFailed)
            guard succeeded else { return }
            let cleared: ConversionRequest = to == .shared ? .shared : .private
            for piece in verdict.pieces {
                update(piece) {
                    $0.shareability = to
                    $0.mapped = false
                    $0.accepted = false
                    $0.quarantined = false
                    if $0.requested == cleared { $0.requested = .none }
                }
            }
        case .populate(let range, let pfn):
            guard succeeded else { return }
            for piece in verdict.pieces {
                releaseFrames(piece) { _ in true }
                guard let pfn else {
                    update(piece) { $0.populated = true; $0.frameDelta = nil }
                    continue
                }
                let firstFrame = piece.firstFrame(populating: range, from: pfn)
                let delta = Int64(bitPattern: firstFrame &- piece.pages.lowerBound)
                update(piece) { $0.populated = true; $0.frameDelta = delta }
                if let frames = FrameOwner.frames(from: firstFrame, count: piece.pages.count) {
                    state.frames.assign(frames, FrameOwner(file: piece.file, pageDelta: -delta))
                }
            }
        case .map:
            if succeeded { for piece in verdict.pieces { update(piece) { $0.mapped = true } } }
        case .convertRequest(_, _, _, let to, _):
            guard succeeded else { return }
            let request: ConversionRequest = to == .shared ? .shared : .private
            for piece in verdict.pieces { update(piece) { $0.requested = request } }
        case .accept:
            guard succeeded else { return }
            let pins = verdict.vm.flatMap { state.vms[$0] }?.tdxConnect ?? false
            for piece in verdict.pieces {
                update(piece) {
                    $0.accepted = true
                    if pins { $0.pins.td &+= 1 }
                }
            }
        case .pin(_, let holder):
            if succeeded { for piece in verdict.pieces { update(piece) { $0.pins[holder] &+= 1 } } }
        case .release(_, let holder):
            guard succeeded else { return }
            for piece in verdict.pieces {
                update(piece) {
                    if $0.pins[holder] > 0 { $0.pins[holder] -= 1 }
                    if holder == .td { $0.accepted = false }
                }
            }
        case .hostAccess, .mce, .context:
            return
        case .reuse(let pfn, let npages, let owner):
            guard succeeded else { return }
            let (end, overflow) = pfn.addingReportingOverflow(npages)
            state.reusedFrames.assign(pfn..<(overflow ? UInt64.max : end), owner ?? "unknown")
        }
    }

    /// The state change of a zap: on success, unmapped, un-accepted, quarantine cleared; on
    /// failure, the VM bugged and the blocking pages quarantined.
    private mutating func applyZap(_ verdict: Verdict, succeeded: Bool, failed: Bool) {
        if succeeded {
            for piece in verdict.pieces {
                update(piece) { $0.mapped = false; $0.accepted = false; $0.quarantined = false }
            }
            return
        }
        guard failed else { return }
        if let vm = verdict.vm, state.vms[vm]?.life == .alive {
            state.vms[vm]!.life = .bugged
        } else if verdict.blocked.isEmpty {
            return
        }
        for piece in verdict.blocked { update(piece) { $0.quarantined = true } }
    }

    /// Forgets the frames of the pages of `piece` that satisfy `predicate`.
    private mutating func releaseFrames(_ piece: Piece, where predicate: (PageState) -> Bool) {
        for run in state.files[piece.file].pages.runs(in: piece.pages) where predicate(run.value) {
            guard run.value.populated, let delta = run.value.frameDelta else { continue }
            let first = UInt64(bitPattern: Int64(bitPattern: run.lower) &+ delta)
            guard let frames = FrameOwner.frames(from: first, count: run.range.count), !frames.isEmpty else { continue }
            let owner = FrameOwner(file: piece.file, pageDelta: -delta)
            state.frames.update(frames) { _, current in current == owner ? nil : current }
        }
    }

    private mutating func update(_ piece: Piece, _ change: (inout PageState) -> Void) {
        state.files[piece.file].pages.update(piece.pages) { _, value in
            guard var page = value else { return nil }
            change(&page)
            return page
        }
    }
}
