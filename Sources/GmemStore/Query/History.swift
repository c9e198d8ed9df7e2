/// One event in a page's history, with the pages' state before and after it.
public struct HistoryEntry {
    public var seq: Int64
    public var event: Event
    public var verdict: Verdict
    /// The queried pages' runs before and after the event (empty when the file did not exist).
    public var before: [StateRun]
    public var after: [StateRun]
    /// The event's canonical body as stored, when the query asked for bodies: `event` then
    /// comes from the page index's form, which leaves out the id, note, source and unknown fields.
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
    /// With `bodies`, each entry also carries the event's stored canonical body (one more
    /// lookup per event).
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
            entry.body = try storedEvent(entry.seq)?.body
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
        let statement = try store.database.cached(
            "SELECT body FROM event WHERE json_extract(body, '$.vm') = ? AND \(Self.structural) AND op = 'bind' ORDER BY seq")
        defer { statement.reset() }
        try statement.bind(1, vm)
        var found: Binding?
        while try statement.step() {
            guard case .bind(let name, let gmem, let slot, let start, let size, let offset, let hva)? = try? Event(jsonLine: statement.string(0)).op,
                name == vm, (start..<(start + size)).contains(gpa)
            else { continue }
            found = Binding(slot: slot, gmem: gmem, gpa: start, size: size, offset: offset, hva: hva)
        }
        return found
    }

    /// The file pages `frames` were put behind, in log order (each populate that placed them
    /// somewhere else than the one before), and the seqs of every event that names those frames
    /// (populates, reuses, machine checks), from the frame index (`frame_event`). What the index
    /// does not hold is read from the bodies: events stored before migration 0004, and frames at
    /// or above 2^63.
    private func frameHistory(_ frames: Range<UInt64>) throws -> ([(seq: Int64, gmem: String, pages: Range<UInt64>)], Set<Int64>) {
        var hits = try FrameIndex.events(touching: frames, in: store)
        let since = try store.database.scalarInt("SELECT CAST(value AS INTEGER) FROM setting WHERE key = 'frame_index_since'") ?? 1
        let beyondIndex = frames.upperBound > FrameIndex.limit
        if since > 1 || beyondIndex {
            let scanned = try unindexedFrameEvents(before: beyondIndex ? .max : since)
                .filter { $0.span.frames.overlaps(frames) && ($0.seq < since || !FrameIndex.isIndexed($0.span)) }
            hits = (scanned + hits).sorted { ($0.seq, $0.span.frames.lowerBound) < ($1.seq, $1.span.frames.lowerBound) }
        }
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

    /// The frame spans of the events before `seq` (a store made before migration 0004), from
    /// their bodies: a file-addressed populate's pages follow from its offset; a gpa-addressed
    /// one names its frames without placing them (that needs the bindings of the time).
    private func unindexedFrameEvents(before seq: Int64) throws -> [FrameIndex.Hit] {
        let statement = try store.database.prepare(
            "SELECT seq, body, expected FROM event WHERE op IN ('bind', 'populate', 'reuse', 'mce') AND op IN ('populate', 'reuse', 'mce') AND seq < ? ORDER BY seq")
        try statement.bind(1, seq)
        var hits: [FrameIndex.Hit] = []
        while try statement.step() {
            guard let event = try? Event(jsonLine: statement.string(1)) else { continue }
            var verdict = Verdict()
            verdict.expected = statement.optionalString(2)
            var names: [String] = []
            if case .populate(.file(let gmem, let offset, let size), _) = event.op, size > 0 {
                names.append(gmem)
                verdict.pieces = [Piece(file: 0, pages: (offset / pageSize)..<((offset + size) / pageSize), address: offset)]
            }
            for span in FrameIndex.spans(of: event, verdict: verdict, fileName: { names[$0] }) {
                hits.append(FrameIndex.Hit(seq: statement.int(0), span: span))
            }
        }
        return hits
    }

    /// The events that change something other than page runs (migration 0003's
    /// `event_structure_vm` and `event_structure_gmem` partial indexes, same terms).
    static let structural = """
        (op IN ('vm_create', 'vm_destroy', 'vm_bugged', 'gmem_create', 'gmem_close', 'bind', 'unbind')
           OR (op IN ('zap', 'punch_hole', 'convert') AND (expected IS NULL OR expected = 'EIO' OR diverged = 1)))
        """

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
        // The pages' own events, ascending: from the index rows' forms, else (rows written
        // before migration 0004, or a form that does not decode) from the stored body.
        var own: [(seq: Int64, recorded: EventForm.Recorded?)] = []
        if let gmem, !pages.isEmpty {
            let hits = try PageSpanIndex.events(touching: pages, of: gmem, in: store)
            own.reserveCapacity(hits.count + extra.count)
            for hit in hits { own.append((hit.seq, hit.form.flatMap { try? EventForm.decode($0) })) }
        }
        if !extra.isEmpty {
            let indexed = Set(own.map(\.seq))
            own += extra.subtracting(indexed).map { ($0, nil) }
            own.sort { $0.seq < $1.seq }
        }
        for index in own.indices where own[index].recorded == nil {
            own[index].recorded = try storedEvent(own[index].seq)?.recorded()
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
            let query = try store.database.cached("""
                SELECT DISTINCT json_extract(body, '$.\(wanted)') FROM event
                WHERE json_extract(body, '$.\(key)') = ? AND seq <= ? AND op = 'gmem_create' AND \(Self.structural)
                """)
            var found: Set<String> = []
            for name in names {
                try query.bind(1, name)
                try query.bind(2, last)
                while try query.step() { if let value = query.optionalString(0) { found.insert(value) } }
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
                "SELECT seq FROM event WHERE json_extract(body, '$.\(key)') = ? AND seq <= ? AND \(Self.structural)")
            for name in names {
                try query.bind(1, name)
                try query.bind(2, last)
                while try query.step() { structure.append(query.int(0)) }
                query.reset()
            }
        }
        structure.sort()
        var engine = Engine()
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
            guard let recorded = try storedEvent(seq)?.recorded() else { continue }
            engine.replay(recorded.event, expected: recorded.expected, expectedErrorOffset: recorded.expectedErrorOffset, diverged: recorded.diverged)
        }
        while next < own.count {
            try show(own[next].seq, own[next].recorded!)
            next += 1
        }
        func show(_ seq: Int64, _ recorded: EventForm.Recorded) throws {
            let before = runs()
            let verdict = engine.replay(
                recorded.event, expected: recorded.expected, expectedErrorOffset: recorded.expectedErrorOffset, diverged: recorded.diverged)
            try visit(HistoryEntry(seq: seq, event: recorded.event, verdict: verdict, before: before, after: runs()))
        }
    }

    private func storedEvent(_ seq: Int64) throws -> Store.StoredEvent? {
        let row = try store.database.cached(
            "SELECT seq, batch, body, hash, expected, expected_error_offset, diverged FROM event WHERE seq = ?")
        defer { row.reset() }
        try row.bind(1, seq)
        guard try row.step() else { return nil }
        return Store.StoredEvent(
            seq: row.int(0), batch: row.int(1), body: row.string(2), hash: row.blob(3),
            expected: row.optionalString(4), expectedErrorOffset: row.optionalInt(5), diverged: row.int(6) != 0)
    }
}
