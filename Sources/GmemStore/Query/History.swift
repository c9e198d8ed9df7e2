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
    /// The retraction that retracted the event, when one did: the event stays in the history,
    /// with its recorded verdict, but changes nothing (`before` equals `after`).
    public var retractedBy: Retraction? = nil
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
            // Frames past 2^64 − 1 do not exist: the query stops at the last one.
            let (last, overflow) = pfn.addingReportingOverflow(max(npages, 1) - 1)
            let (placements, named) = try frameHistory(pfn...(overflow ? .max : last))
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
    private func frameHistory(_ frames: ClosedRange<UInt64>) throws -> ([(seq: Int64, gmem: String, pages: Range<UInt64>)], Set<Int64>) {
        let hits = try FrameIndex.events(touching: frames, in: store)
        var placements: [(seq: Int64, gmem: String, pages: Range<UInt64>)] = []
        var named: Set<Int64> = []
        for hit in hits {
            named.insert(hit.seq)
            guard let gmem = hit.span.gmem, let firstPage = hit.span.firstPage else { continue }
            let backed = hit.span.frames.clamped(to: frames)
            // A placed span backs file pages (fewer than 2^52); a row saying otherwise was changed.
            let (first, low) = firstPage.addingReportingOverflow(backed.lowerBound - hit.span.frames.lowerBound)
            let (end, high) = first.addingReportingOverflow((backed.upperBound - backed.lowerBound) &+ 1)
            guard !low, !high, end > first else { throw StoreError.storedInput(reason: "frame_event row of seq \(hit.seq) places frames past the last file page") }
            let pages = first..<end
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
    ///
    /// A conversion's effect on the asked pages can depend on the rest of its range: under a
    /// profile where a conversion that changes nothing returns early (upstream-2026), pages
    /// already in the requested state stay mapped and accepted only if the whole range already
    /// was. A conversion appended under schema 3 carries the answer (`returned_early`, from the
    /// full state at ingest), which the replay applies. For one stored before, when it reaches
    /// past the pages followed, a first replay without output finds the conversions for which
    /// that is undecided (every followed page of the range already in the requested state);
    /// their ranges join the pages followed, and again, until none does. Then the replay that
    /// shows the history follows those pages.
    private func replay(gmem: String?, pages: Range<UInt64>, extra: Set<Int64>, _ visit: (HistoryEntry) throws -> Void) throws {
        var followed = pages
        if let gmem, !pages.isEmpty, try reachesPast(pages, of: gmem) {
            while true {
                var wider = followed
                try replay(gmem: gmem, pages: pages, followed: followed, extra: extra, widening: &wider, nil)
                if wider == followed { break }
                followed = wider
            }
        }
        var unused = followed
        try withoutActuallyEscaping(visit) { visit in
            try replay(gmem: gmem, pages: pages, followed: followed, extra: extra, widening: &unused, visit)
        }
    }

    /// True when a `convert` that touches `pages` of `gmem`, and carries no recorded
    /// `returned_early` (stored before schema 3), also covers pages outside them.
    private func reachesPast(_ pages: Range<UInt64>, of gmem: String) throws -> Bool {
        let convert = EventRow.opCodes["convert"]!
        let opOf = try store.database.cached("SELECT op, returned_early FROM event WHERE seq = ?")
        defer { opOf.reset() }
        for span in try PageSpanIndex.spans(touching: pages, of: gmem, in: store)
        where span.pages.lowerBound < pages.lowerBound || span.pages.upperBound > pages.upperBound {
            try opOf.bind(1, span.seq)
            let isConvert = try opOf.step() && opOf.int(0) == convert && opOf.optionalInt(1) == nil
            opOf.reset()
            if isConvert { return true }
        }
        return false
    }

    /// One sparse replay following `followed` pages of `gmem`, showing the events of `pages`
    /// through `visit` (none when nil). `widening` grows to the range of every conversion whose
    /// effect on the followed pages depends on pages not followed.
    private func replay(
        gmem: String?, pages: Range<UInt64>, followed: Range<UInt64>, extra: Set<Int64>, widening: inout Range<UInt64>,
        _ visit: ((HistoryEntry) throws -> Void)?
    ) throws {
        // The pages' own events, ascending, read from their rows.
        var own: [(seq: Int64, recorded: RecordedEvent?)] = []
        var shown: Set<Int64> = extra
        if let gmem, !pages.isEmpty {
            let seqs = try followedEvents(of: gmem, pages: pages, followed: followed, shown: &shown)
            own.reserveCapacity(seqs.count + extra.count)
            for seq in seqs { own.append((seq, nil)) }
        }
        if !extra.isEmpty {
            let indexed = Set(own.map(\.seq))
            own += extra.subtracting(indexed).map { ($0, nil) }
            own.sort { $0.seq < $1.seq }
        }
        // A retracted event is shown, marked, with the retraction that retracted it.
        let retracted = try store.retractedEvents()
        if !retracted.isEmpty {
            let listed = Set(own.map(\.seq))
            let retractions = Set(own.filter { shown.contains($0.seq) }.compactMap { retracted.retraction(of: $0.seq)?.seq })
                .subtracting(listed)
            if !retractions.isEmpty {
                own += retractions.map { ($0, nil) }
                own.sort { $0.seq < $1.seq }
                shown.formUnion(retractions)
            }
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
            return StateReport.runs(of: file, pages: pages.clamped(to: 0..<file.pageCount), in: engine.state)
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
            if retracted.contains(seq) { continue }
            guard let recorded = try store.storedEvent(seq)?.recorded() else { continue }
            engine.replay(
                recorded.event, seq: seq, expected: recorded.expected, expectedErrorOffset: recorded.expectedErrorOffset, diverged: recorded.diverged,
                returnedEarly: recorded.returnedEarly)
        }
        while next < own.count {
            try show(own[next].seq, own[next].recorded!)
            next += 1
        }
        func show(_ seq: Int64, _ recorded: RecordedEvent) throws {
            if let gmem, case .convert(_, let to) = recorded.event.op, recorded.returnedEarly == nil, !retracted.contains(seq) {
                let probe = engine.evaluate(recorded.event)
                if probe.kernel.unchangedConversionReturnsEarly {
                    for piece in probe.pieces where engine.state.files[piece.file].name == gmem {
                        let inside = piece.pages.clamped(to: followed)
                        guard inside != piece.pages, !inside.isEmpty,
                            engine.state.files[piece.file].pages.firstPage(in: inside, where: { $0.shareability != to }) == nil
                        else { continue }
                        widening = min(widening.lowerBound, piece.pages.lowerBound)..<max(widening.upperBound, piece.pages.upperBound)
                    }
                }
            }
            guard let visit, shown.contains(seq) else {
                if !retracted.contains(seq) {
                    engine.replay(
                        recorded.event, seq: seq, expected: recorded.expected, expectedErrorOffset: recorded.expectedErrorOffset,
                        diverged: recorded.diverged, returnedEarly: recorded.returnedEarly)
                }
                return
            }
            let before = runs()
            if let retraction = retracted.retraction(of: seq) {
                var verdict = engine.evaluate(recorded.event)
                verdict.expected = recorded.expected
                verdict.expectedErrorOffset = recorded.expectedErrorOffset.map { UInt64(bitPattern: $0) }
                verdict.diverged = recorded.diverged
                if case .convert = recorded.event.op { verdict.returnedEarly = recorded.returnedEarly ?? verdict.returnedEarly }
                return try visit(HistoryEntry(
                    seq: seq, event: recorded.event, verdict: verdict, before: before, after: before, retractedBy: retraction))
            }
            let verdict = engine.replay(
                recorded.event, seq: seq, expected: recorded.expected, expectedErrorOffset: recorded.expectedErrorOffset, diverged: recorded.diverged,
                returnedEarly: recorded.returnedEarly)
            try visit(HistoryEntry(seq: seq, event: recorded.event, verdict: verdict, before: before, after: runs()))
        }
    }

    /// The events of `followed` pages of `gmem`, ascending, with those that touch `pages`
    /// themselves added to `shown`.
    private func followedEvents(of gmem: String, pages: Range<UInt64>, followed: Range<UInt64>, shown: inout Set<Int64>) throws -> [Int64] {
        let spans = try PageSpanIndex.spans(touching: followed, of: gmem, in: store)
        var seqs: [Int64] = []
        seqs.reserveCapacity(spans.count)
        for span in spans {
            seqs.append(span.seq)
            if span.pages.overlaps(pages) { shown.insert(span.seq) }
        }
        seqs.sort()
        var unique: [Int64] = []
        unique.reserveCapacity(seqs.count)
        for seq in seqs where unique.last != seq { unique.append(seq) }
        return unique
    }
}
