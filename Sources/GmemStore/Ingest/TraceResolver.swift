/// Turns trace records into events against the state at that point of the merged stream
/// (EVENTS.md §5, docs/TRACES.md).
///
/// A trace line names a gfn, an hva or an iova, never a VM. The VM is the one given with
/// `--vm`, else the only VM alive in the state; with none or several alive, gfn-addressed
/// events name the VM `?` and stay unresolved (kept as evidence, GM-R13). Map and zap become
/// gpa-addressed events (`gpa` = gfn << 12); a gfn that no gmem binding of its VM covers is
/// ordinary memory and is kept as context, like an hva range no binding covers. hva and frame
/// ranges are resolved through the bindings' `hva` and the frames recorded by `populate`.
public struct TraceResolver {
    /// The VM name used when a trace line cannot be tied to a single VM.
    public static let unknownVM = "?"

    /// The VM every trace line belongs to, when given (`ingest --vm`).
    public var vm: String?
    /// Events that name no VM because none or several were alive.
    public private(set) var unresolvedVM = 0
    /// IOMMU mappings seen so far: iova page → host frame, as `frame = page + delta`, so that
    /// an unmap is resolved through the iova of its map.
    private var iommu = RangeMap<Int64>()

    /// A resolver that puts every trace line in `vm`, or, when nil, in the only live VM.
    public init(vm: String? = nil) {
        self.vm = vm
    }

    /// The events `record` stands for whatever the state: a context line's, a gap's; nil for a
    /// record whose events depend on the bindings, VMs or frames known at its point. The
    /// reading thread makes these ahead (`PrefetchedSource`); `events(for:in:)` gives the same.
    public static func eventsWithoutState(for record: TraceRecord) -> [Event]? {
        switch record.kind {
        case .context(let note):
            [Event(.context(tracepoint: record.tracepoint), ts: record.ts, note: note, source: record.source)]
        case .gap(let source, let lost):
            [Event(.gap(source: source, lost: lost), ts: record.ts, source: record.source)]
        default:
            nil
        }
    }

    /// The events `record` stands for, given `state` (the engine state just before it).
    public mutating func events(for record: TraceRecord, in state: GmemState) -> [Event] {
        if let events = Self.eventsWithoutState(for: record) { return events }
        func event(_ op: Operation, note: String? = nil) -> Event {
            Event(op, ts: record.ts, note: note, source: record.source)
        }
        func context(_ note: String?) -> [Event] {
            [event(.context(tracepoint: record.tracepoint), note: note)]
        }
        switch record.kind {
        case .context, .gap:
            preconditionFailure("made by eventsWithoutState")
        case .map(let gfn, let pages), .zap(let gfn, let pages):
            guard let range = Self.guestRange(gfn: gfn, pages: pages) else {
                return context("gfn \(hex(gfn)) + \(pages) pages passes the end of the address space")
            }
            let (name, note) = owner(in: state)
            if let machine = state.vms[name], !machine.bindings.values.contains(where: { $0.gpaRange.overlaps(range.gpa..<(range.gpa + range.size)) }) {
                return context("gfn \(hex(gfn)) is in no gmem binding of vm '\(name)': not gmem memory")
            }
            let memory = MemoryRange.guest(vm: name, gpa: range.gpa, size: range.size)
            if case .map = record.kind { return [event(.map(memory), note: note)] }
            return [event(.zap(memory, reason: nil), note: note)]
        case .convertRequest(let gpa, let size, let to, let implicit):
            let (name, note) = owner(in: state)
            return [event(.convertRequest(vm: name, gpa: gpa, size: size, to: to, implicit: implicit), note: note)]
        case .convert(let gpa, let size, let to):
            let (name, note) = owner(in: state)
            return [event(.convert(.guest(vm: name, gpa: gpa, size: size), to: to), note: note)]
        case .memslot(let slot, let gpa, let size, let hva, let fd, let offset, let result):
            let (name, note) = owner(in: state)
            var op: Operation
            if size == 0 {
                op = .unbind(vm: name, slot: slot)
            } else {
                op = .bind(vm: name, gmem: gmem(fd: fd, vm: name, in: state), slot: slot, gpa: gpa, size: size, offset: offset, hva: hva)
            }
            var bound = event(op, note: note)
            bound.result = result
            return [bound]
        case .zapAll:
            guard let name = singleVM(in: state) else {
                return context("no single live VM to zap (\(aliveDescription(state))); ingest with --vm NAME")
            }
            var zaps: [Event] = []
            for index in state.files.indices where state.files[index].isOpen && state.files[index].vm == name {
                let file = state.files[index]
                for pages in file.pages.ranges(in: 0..<file.pageCount, where: { $0.mapped }) {
                    let memory = MemoryRange.file(gmem: file.name, offset: pages.lowerBound * pageSize, size: UInt64(pages.count) * pageSize)
                    zaps.append(event(.zap(memory, reason: "teardown")))
                }
            }
            return zaps.isEmpty ? context("vm '\(name)' has no mapped gmem page") : zaps
        case .unmapHVA(let start, let end):
            return unmapHVA(start: start, end: end, in: state, event: event, context: context)
        case .iommuMap(let iova, let paddr, let size):
            let pages = (iova / pageSize)..<((iova &+ size &+ pageSize &- 1) / pageSize)
            guard !pages.isEmpty, pages.upperBound > pages.lowerBound else { return context("empty iova range") }
            let delta = Int64(bitPattern: (paddr / pageSize) &- pages.lowerBound)
            iommu.assign(pages, delta)
            let pins = framePieces(pages, delta: delta, in: state).map { event(.pin($0, holder: .iommu)) }
            return pins.isEmpty ? context("paddr \(hex(paddr)) backs no gmem page known to the log") : pins
        case .iommuUnmap(let iova, let size):
            let pages = (iova / pageSize)..<((iova &+ size &+ pageSize &- 1) / pageSize)
            guard !pages.isEmpty, pages.upperBound > pages.lowerBound else { return context("nothing was unmapped") }
            var releases: [Event] = []
            for run in iommu.runs(in: pages) {
                releases += framePieces(run.range, delta: run.value, in: state).map { event(.release($0, holder: .iommu)) }
            }
            let known = !iommu.runs(in: pages).isEmpty
            iommu.assign(pages, nil)
            if !releases.isEmpty { return releases }
            return context(known ? "the frames it mapped back no gmem page known to the log" : "no IOMMU map of this iova was read before it")
        }
    }

    /// The gpa range of `pages` pages from `gfn`, when it fits in 64 bits.
    /// The event a map or zap record stands for when its pages are bound gmem memory of `vm`,
    /// the VM the trace's lines went to so far: what `events(for:in:)` gives then. The reading
    /// thread makes it and its body ahead (`PrefetchedSource`); the merge uses them only when
    /// the record's events, resolved against the state, are that event. Nil for another record.
    static func guessedEvent(for record: TraceRecord, vm: String) -> Event? {
        let op: Operation
        switch record.kind {
        case .map(let gfn, let pages):
            guard let range = guestRange(gfn: gfn, pages: pages) else { return nil }
            op = .map(.guest(vm: vm, gpa: range.gpa, size: range.size))
        case .zap(let gfn, let pages):
            guard let range = guestRange(gfn: gfn, pages: pages) else { return nil }
            op = .zap(.guest(vm: vm, gpa: range.gpa, size: range.size), reason: nil)
        default:
            return nil
        }
        return Event(op, ts: record.ts, source: record.source)
    }

    /// The VM a map or zap event names, when it names one (the guess of the next).
    static func guestVM(of event: Event) -> String? {
        switch event.op {
        case .map(.guest(let vm, _, _)), .zap(.guest(let vm, _, _), _): vm
        default: nil
        }
    }

    private static func guestRange(gfn: UInt64, pages: UInt64) -> (gpa: UInt64, size: UInt64)? {
        guard gfn < (1 << 52), pages > 0, pages < (1 << 40) else { return nil }
        let gpa = gfn * pageSize
        let size = pages * pageSize
        guard !gpa.addingReportingOverflow(size).overflow else { return nil }
        return (gpa, size)
    }

    /// The VM named by `--vm`, else the only one alive.
    private func singleVM(in state: GmemState) -> String? {
        if let vm { return vm }
        var found: String?
        for (name, machine) in state.vms where machine.life == .alive {
            if found != nil { return nil }
            found = name
        }
        return found
    }

    private func aliveDescription(_ state: GmemState) -> String {
        let alive = state.vms.filter { $0.value.life == .alive }.map(\.key).sorted()
        return alive.isEmpty ? "no VM is alive" : "VMs \(alive.map { "'\($0)'" }.joined(separator: ", ")) are alive"
    }

    /// The VM a gfn- or gpa-addressed line belongs to, or `?` with a note saying why not.
    private mutating func owner(in state: GmemState) -> (String, String?) {
        if let name = singleVM(in: state) { return (name, nil) }
        unresolvedVM += 1
        return (Self.unknownVM, "trace line names no VM and \(aliveDescription(state)); ingest with --vm NAME")
    }

    /// The gmem a QEMU `guest_memfd=FD` names: a gmem whose id is the fd number, else the VM's
    /// only open gmem file, else the fd number (then unknown: the bind is unresolved).
    private func gmem(fd: Int64, vm: String, in state: GmemState) -> String {
        let byNumber = String(fd)
        if let file = state.file(byNumber), file.isOpen { return byNumber }
        let owned = state.files.filter { $0.isOpen && $0.vm == vm && state.fileIndex[$0.name] != nil }
        if owned.count == 1 { return owned[0].name }
        return byNumber
    }

    /// `kvm_unmap_hva_range`: zaps of the gpa ranges whose binding's hva range overlaps
    /// [start, end), page-rounded outwards. The VM is `--vm`, else whichever live VM's
    /// bindings the range falls in; nothing (context) when no binding covers it.
    private func unmapHVA(
        start: UInt64, end: UInt64, in state: GmemState, event: (Operation, String?) -> Event,
        context: (String?) -> [Event]
    ) -> [Event] {
        let lower = start / pageSize * pageSize
        let upper = end % pageSize == 0 ? end : (end / pageSize + 1) * pageSize
        var zaps: [(vm: String, event: Event)] = []
        let candidates = vm.map { [$0] } ?? state.vms.filter { $0.value.life == .alive }.map(\.key).sorted()
        for name in candidates {
            guard let machine = state.vms[name] else { continue }
            for binding in machine.bindingsByAddress {
                guard let hva = binding.hva, !hva.addingReportingOverflow(binding.size).overflow else { continue }
                let from = max(lower, hva)
                let to = min(upper, hva + binding.size)
                guard from < to else { continue }
                let memory = MemoryRange.guest(vm: name, gpa: binding.gpa + (from - hva), size: to - from)
                zaps.append((name, event(.zap(memory, reason: "host"), nil)))
            }
        }
        let machines = Set(zaps.map(\.vm))
        if machines.count > 1 {
            return context("the hva range is bound in VMs \(machines.sorted().map { "'\($0)'" }.joined(separator: ", ")); ingest with --vm NAME")
        }
        if zaps.isEmpty { return context("no memslot binds this hva range: not gmem memory") }
        return zaps.map(\.event)
    }

    /// The gmem file ranges backed by frames `page + delta` for the iova pages `pages`.
    private func framePieces(_ pages: Range<UInt64>, delta: Int64, in state: GmemState) -> [MemoryRange] {
        let first = UInt64(bitPattern: Int64(bitPattern: pages.lowerBound) &+ delta)
        let (last, overflow) = first.addingReportingOverflow(UInt64(pages.count))
        guard !overflow else { return [] }
        var pieces: [MemoryRange] = []
        for run in state.frames.runs(in: first..<last) {
            let owner = run.value
            guard owner.file < state.files.count else { continue }
            let file = state.files[owner.file]
            guard file.isOpen, state.fileIndex[file.name] == owner.file else { continue }
            let page = UInt64(bitPattern: Int64(bitPattern: run.lower) &+ owner.pageDelta)
            pieces.append(.file(gmem: file.name, offset: page * pageSize, size: UInt64(run.range.count) * pageSize))
        }
        return pieces
    }
}
