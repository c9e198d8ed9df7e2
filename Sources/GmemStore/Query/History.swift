/// One event in a page's history, with the pages' state before and after it.
public struct HistoryEntry {
    public var seq: Int64
    public var event: Event
    public var verdict: Verdict
    /// The queried pages' runs before and after the event (empty when the file did not exist).
    public var before: [StateRun]
    public var after: [StateRun]
    /// The event's canonical body (derived from its stored row), when the query asked for bodies.
    public var body: String?
}

/// Answers "what happened to these pages": every event that touched them, oldest first.
public struct History {
    public let store: Store

    public init(store: Store) {
        self.store = store
    }

    /// What a history query names.
    public enum Subject: Sendable {
        case file(gmem: String, offset: UInt64, size: UInt64)
        case guest(vm: String, gpa: UInt64, size: UInt64)
        case frame(pfn: UInt64, npages: UInt64)
    }

    /// Why a subject could not be placed.
    public struct Unplaced: Error, CustomStringConvertible {
        public var description: String
    }

    /// Every event that touched the subject's pages, with their state before and after.
    /// With `bodies`, each entry also carries the event's canonical body.
    public func entries(for subject: Subject, bodies: Bool = false) throws -> [HistoryEntry] {
        var result: [HistoryEntry] = []
        try forEachEntry(for: subject, bodies: bodies) { result.append($0) }
        return result
    }

    /// Calls `body` with each entry of the subject's history, oldest first, as the replay
    /// reaches it: a long history is printed without being held.
    public func forEachEntry(for subject: Subject, bodies: Bool = false, _ body: (HistoryEntry) throws -> Void) throws {
        func visit(_ entry: HistoryEntry) throws {
            guard bodies else { return try body(entry) }
            var entry = entry
            entry.body = entry.event.canonicalJSON
            try body(entry)
        }
        switch subject {
        case .file(let gmem, let offset, let size):
            try replay(gmem: gmem, pages: Self.pages(from: offset, size: size), extra: [], visit)
        case .guest(let vm, let gpa, let size):
            guard let binding = try lastBinding(vm: vm, gpa: gpa) else {
                throw Unplaced(description: "no memslot of vm '\(vm)' ever bound gpa \(hex(gpa))")
            }
            let (end, overflow) = gpa.addingReportingOverflow(size)
            let bytes = min(overflow ? .max : end, binding.gpa + binding.size) - gpa
            try replay(gmem: binding.gmem, pages: Self.pages(from: gpa - binding.gpa + binding.offset, size: bytes), extra: [], visit)
        case .frame(let pfn, let npages):
            let (end, overflow) = pfn.addingReportingOverflow(max(npages, 1))
            let (placements, named) = try frameHistory(pfn..<(overflow ? .max : end))
            guard !placements.isEmpty else {
                if named.isEmpty { throw Unplaced(description: "no event of the log names pfn \(hex(pfn))") }
                return try replay(gmem: nil, pages: 0..<0, extra: named, visit)
            }
            // Each file's pages while the frames backed them (from the populate that put them
            // there to the next one), and every event that names the frames, shown with the
            // pages that held the frames at the time.
            var chosen: [Int64: (entry: HistoryEntry, inWindow: Bool)] = [:]
            for (index, placement) in placements.enumerated() {
                let window = placement.seq..<(index + 1 < placements.count ? placements[index + 1].seq : .max)
                try replay(gmem: placement.gmem, pages: placement.pages, extra: named) { entry in
                    let inWindow = window.contains(entry.seq)
                    guard inWindow || named.contains(entry.seq), !(chosen[entry.seq]?.inWindow ?? false) else { return }
                    chosen[entry.seq] = (entry, inWindow)
                }
            }
            for seq in chosen.keys.sorted() { try visit(chosen[seq]!.entry) }
        }
    }

    /// The pages that bytes [address, address + size) touch; a range past 2^64 stops there.
    static func pages(from address: UInt64, size: UInt64) -> Range<UInt64> {
        guard size > 0 else { return (address / pageSize)..<(address / pageSize) }
        let (last, overflow) = address.addingReportingOverflow(size - 1)
        return (address / pageSize)..<((overflow ? .max : last) / pageSize + 1)
    }

    /// The last binding of `vm` that covered `gpa`, from the VM's bind events (found through
    /// the `event_structure_vm` index).
    private func lastBinding(vm: String, gpa: UInt64) throws -> Binding? {
        guard let id = try store.names.existingID(for: vm) else { return nil }
        let statement = try store.database.cached(
            "SELECT \(Store.storedEventColumns) FROM event WHERE vm = ? AND structural = 1 AND op = 6 ORDER BY seq")
        defer { statement.reset() }
        try statement.bind(1, id)
        var found: Binding?
        while try statement.step() {
            guard case .bind(let name, let gmem, let slot, let start, let size, let offset, let hva) = try store.storedEvent(from: statement).event.op,
                name == vm, (start..<(start + size)).contains(gpa)
            else { continue }
            found = Binding(slot: slot, gmem: gmem, gpa: start, size: size, offset: offset, hva: hva)
        }
        return found
    }

    /// The file pages `frames` were put behind, in log order (each populate that placed them
    /// somewhere else than the one before), and the seqs of every event that names those frames
    /// (populates, reuses, machine checks), from the frame index (`frame_event`).
    private func frameHistory(_ frames: Range<UInt64>) throws -> ([(seq: Int64, gmem: String, pages: Range<UInt64>)], Set<Int64>) {
        let hits = try FrameIndex.events(touching: frames, in: store)
        var placements: [(seq: Int64, gmem: String, pages: Range<UInt64>)] = []
        var named: Set<Int64> = []
        for hit in hits {
            named.insert(hit.seq)
            guard let gmem = hit.span.gmem, let firstPage = hit.span.firstPage else { continue }
            let backed = hit.span.frames.clamped(to: frames)
            let first = firstPage + (backed.lowerBound - hit.span.frames.lowerBound)
            let pages = first..<(first + UInt64(backed.count))
            if let last = placements.last, last.gmem == gmem, last.pages == pages { continue }
            placements.append((hit.seq, gmem, pages))
        }
        return (placements, named)
    }

    /// The VM and the gmem an event names.
    static func names(of op: Operation) -> (vm: String?, gmem: String?) {
        switch op {
        case .vmCreate(let vm, _, _), .vmDestroy(let vm), .vmBugged(let vm, _), .unbind(let vm, _): return (vm, nil)
        case .gmemCreate(let vm, let gmem, _, _, _), .bind(let vm, let gmem, _, _, _, _, _): return (vm, gmem)
        case .gmemClose(let gmem): return (nil, gmem)
        default:
            switch op.range {
            case .file(let gmem, _, _)?: return (nil, gmem)
            case .guest(let vm, _, _)?: return (vm, nil)
            case nil: return (nil, nil)
            }
        }
    }

    /// The entries for `pages` of `gmem` plus the events in `extra`: a sparse replay of those
    /// events and of the events that shape the VMs and gmem files they depend on, each with its
    /// recorded outcome (`Engine.replay`).
    ///
    /// Which structure matters: the VMs the events name and the VMs that created the gmem files
    /// they name (life, bindings, `tdx_connect`), and those VMs' gmem files (a failed zap of any
    /// of them bugs the VM). Their structural events are found by name through the
    /// `event_structure_*` indexes. Exact for the pages asked about (VMs, bindings and files
    /// involved are exact; a zap's blocked pages are decided per page); other pages and VMs are
    /// never shown. No snapshot is read and no event of another VM's pages is decoded.
    private func replay(gmem: String?, pages: Range<UInt64>, extra: Set<Int64>, _ visit: (HistoryEntry) throws -> Void) throws {
        // The pages' own events, ascending, read from their rows.
        var own: [(seq: Int64, recorded: RecordedEvent?)] = []
        if let gmem, !pages.isEmpty {
            let seqs = try PageSpanIndex.events(touching: pages, of: gmem, in: store)
            own.reserveCapacity(seqs.count + extra.count)
            for seq in seqs { own.append((seq, nil)) }
        }
        if !extra.isEmpty {
            let indexed = Set(own.map(\.seq))
            own += extra.subtracting(indexed).map { ($0, nil) }
            own.sort { $0.seq < $1.seq }
        }
        for index in own.indices where own[index].recorded == nil {
            own[index].recorded = try store.storedEvent(own[index].seq)?.recorded()
        }
        own.removeAll { $0.recorded == nil }
        guard let last = own.last?.seq else { return }
        var vms: Set<String> = []
        var gmems: Set<String> = gmem.map { [$0] } ?? []
        for (_, recorded) in own {
            let named = Self.names(of: recorded!.event.op)
            if let vm = named.vm { vms.insert(vm) }
            if let gmem = named.gmem { gmems.insert(gmem) }
        }
        // The `wanted` name (vm or gmem) of the gmem_create events whose `key` is in `names`.
        func creations(_ wanted: String, whose key: String, in names: Set<String>) throws -> Set<String> {
            let query = try store.database.cached(
                "SELECT DISTINCT \(wanted) FROM event WHERE \(key) = ? AND seq <= ? AND op = 4 AND structural = 1")
            var found: Set<String> = []
            for name in names {
                guard let id = try store.names.existingID(for: name) else { continue }
                try query.bind(1, id)
                try query.bind(2, last)
                while try query.step() { if let value = query.optionalInt(0).flatMap(store.names.text) { found.insert(value) } }
                query.reset()
            }
            return found
        }
        vms.formUnion(try creations("vm", whose: "gmem", in: gmems))
        gmems.formUnion(try creations("gmem", whose: "vm", in: vms))
        // The structural events those VMs and files depend on, ascending, without the own ones.
        var structure: [Int64] = []
        for (key, names) in [("vm", vms), ("gmem", gmems)] {
            let query = try store.database.cached(
                "SELECT seq FROM event WHERE \(key) = ? AND seq <= ? AND structural = 1")
            for name in names {
                guard let id = try store.names.existingID(for: name) else { continue }
                try query.bind(1, id)
                try query.bind(2, last)
                while try query.step() { structure.append(query.int(0)) }
                query.reset()
            }
        }
        structure.sort()
        var engine = try store.genesisEngine()
        func runs() -> [StateRun] {
            guard let gmem, let file = engine.state.file(gmem), !pages.isEmpty else { return [] }
            return StateReport.runs(of: file, pages: pages.clamped(to: 0..<file.pageCount))
        }
        // Both lists in seq order: a structural event is replayed, an own one is also shown.
        var next = 0
        var previous: Int64 = 0
        for seq in structure where seq != previous {
            previous = seq
            while next < own.count, own[next].seq < seq {
                try show(own[next].seq, own[next].recorded!)
                next += 1
            }
            if next < own.count, own[next].seq == seq { continue }
            guard let recorded = try store.storedEvent(seq)?.recorded() else { continue }
            engine.replay(
                recorded.event, seq: seq, expected: recorded.expected, expectedErrorOffset: recorded.expectedErrorOffset, diverged: recorded.diverged)
        }
        while next < own.count {
            try show(own[next].seq, own[next].recorded!)
            next += 1
        }
        func show(_ seq: Int64, _ recorded: RecordedEvent) throws {
            let before = runs()
            let verdict = engine.replay(
                recorded.event, seq: seq, expected: recorded.expected, expectedErrorOffset: recorded.expectedErrorOffset, diverged: recorded.diverged)
            try visit(HistoryEntry(seq: seq, event: recorded.event, verdict: verdict, before: before, after: runs()))
        }
    }
}
