/// One event in a page's history, with the pages' state before and after it.
public struct HistoryEntry {
    public var seq: Int64
    public var event: Event
    public var verdict: Verdict
    /// The queried pages' runs before and after the event (empty when the file did not exist).
    public var before: [StateRun]
    public var after: [StateRun]
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
    public func entries(for subject: Subject) throws -> [HistoryEntry] {
        switch subject {
        case .file(let gmem, let offset, let size):
            return try entries(gmem: gmem, pages: (offset / pageSize)..<((offset + size + pageSize - 1) / pageSize), extra: [])
        case .guest(let vm, let gpa, let size):
            guard let binding = try lastBinding(vm: vm, gpa: gpa) else {
                throw Unplaced(description: "no memslot of vm '\(vm)' ever bound gpa \(hex(gpa))")
            }
            let offset = gpa - binding.gpa + binding.offset
            let end = min(gpa + size, binding.gpa + binding.size) - binding.gpa + binding.offset
            return try entries(gmem: binding.gmem, pages: (offset / pageSize)..<((end + pageSize - 1) / pageSize), extra: [])
        case .frame(let pfn, let npages):
            let frames = pfn..<(pfn + max(npages, 1))
            let (placement, frameEvents) = try frameHistory(frames)
            guard let placement else {
                if frameEvents.isEmpty { throw Unplaced(description: "no event of the log names pfn \(hex(pfn))") }
                return try entries(gmem: nil, pages: 0..<0, extra: frameEvents)
            }
            return try entries(gmem: placement.gmem, pages: placement.pages, extra: frameEvents)
        }
    }

    /// The last binding of `vm` that covered `gpa`, from the log's bind events.
    private func lastBinding(vm: String, gpa: UInt64) throws -> Binding? {
        let statement = try store.database.prepare("SELECT body FROM event WHERE op IN ('bind', 'populate', 'reuse', 'mce') AND op = 'bind' ORDER BY seq")
        var found: Binding?
        while try statement.step() {
            guard case .bind(let name, let gmem, let slot, let start, let size, let offset, let hva)? = try? Event(jsonLine: statement.string(0)).op,
                name == vm, (start..<(start + size)).contains(gpa)
            else { continue }
            found = Binding(slot: slot, gmem: gmem, gpa: start, size: size, offset: offset, hva: hva)
        }
        return found
    }

    /// The file pages that `frames` last backed (from populate events), and the seqs of the
    /// events that name those frames directly (reuse, mce).
    private func frameHistory(_ frames: Range<UInt64>) throws -> ((gmem: String, pages: Range<UInt64>)?, Set<Int64>) {
        let statement = try store.database.prepare("SELECT seq, body FROM event WHERE op IN ('bind', 'populate', 'reuse', 'mce') AND op IN ('populate', 'reuse', 'mce') ORDER BY seq")
        var placement: (gmem: String, pages: Range<UInt64>)?
        var named: Set<Int64> = []
        while try statement.step() {
            let seq = statement.int(0)
            guard let event = try? Event(jsonLine: statement.string(1)) else { continue }
            switch event.op {
            case .populate(let range, let pfn?):
                let populated = pfn..<(pfn &+ range.size / pageSize)
                guard populated.overlaps(frames), case .file(let gmem, let offset, _) = range else { continue }
                let first = offset / pageSize + (max(frames.lowerBound, pfn) - pfn)
                placement = (gmem, first..<(first + UInt64(populated.clamped(to: frames).count)))
            case .reuse(let pfn, let npages, _):
                if (pfn..<(pfn &+ npages)).overlaps(frames) { named.insert(seq) }
            case .mce(let pfn):
                if frames.contains(pfn) { named.insert(seq) }
            default:
                continue
            }
        }
        return (placement, named)
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
    private func entries(gmem: String?, pages: Range<UInt64>, extra: Set<Int64>) throws -> [HistoryEntry] {
        var seqs = extra
        if let gmem, !pages.isEmpty {
            seqs.formUnion(try PageSpanIndex.seqs(touching: pages, of: gmem, in: store))
        }
        guard let last = seqs.max() else { return [] }
        var loaded: [Int64: (stored: Store.StoredEvent, event: Event)] = [:]
        var vms: Set<String> = []
        var gmems: Set<String> = gmem.map { [$0] } ?? []
        for seq in seqs {
            guard let stored = try storedEvent(seq) else { continue }
            let event = try stored.decoded()
            loaded[seq] = (stored, event)
            let named = Self.names(of: event.op)
            if let vm = named.vm { vms.insert(vm) }
            if let gmem = named.gmem { gmems.insert(gmem) }
        }
        let owners = try store.database.cached("""
            SELECT DISTINCT json_extract(body, '$.vm') FROM event
            WHERE json_extract(body, '$.gmem') = ? AND seq <= ? AND op = 'gmem_create' AND \(Self.structural)
            """)
        for name in gmems {
            try owners.bind(1, name)
            try owners.bind(2, last)
            while try owners.step() { if let vm = owners.optionalString(0) { vms.insert(vm) } }
            owners.reset()
        }
        let created = try store.database.cached("""
            SELECT DISTINCT json_extract(body, '$.gmem') FROM event
            WHERE json_extract(body, '$.vm') = ? AND seq <= ? AND op = 'gmem_create' AND \(Self.structural)
            """)
        for name in vms {
            try created.bind(1, name)
            try created.bind(2, last)
            while try created.step() { if let gmem = created.optionalString(0) { gmems.insert(gmem) } }
            created.reset()
        }
        var replayed = seqs
        for (key, names) in [("vm", vms), ("gmem", gmems)] {
            let structure = try store.database.cached(
                "SELECT seq FROM event WHERE json_extract(body, '$.\(key)') = ? AND seq <= ? AND \(Self.structural)")
            for name in names {
                try structure.bind(1, name)
                try structure.bind(2, last)
                while try structure.step() { replayed.insert(structure.int(0)) }
                structure.reset()
            }
        }
        var engine = Engine()
        var result: [HistoryEntry] = []
        func snapshot() -> [StateRun] {
            guard let gmem, let file = engine.state.file(gmem), !pages.isEmpty else { return [] }
            return StateReport.runs(of: file, pages: pages.clamped(to: 0..<file.pageCount))
        }
        for seq in replayed.sorted() {
            let known: (stored: Store.StoredEvent, event: Event)
            if let cached = loaded[seq] {
                known = cached
            } else {
                guard let stored = try storedEvent(seq) else { continue }
                known = (stored, try stored.decoded())
            }
            let (stored, event) = known
            guard seqs.contains(seq) else {
                engine.replay(event, expected: stored.expected, expectedErrorOffset: stored.expectedErrorOffset, diverged: stored.diverged)
                continue
            }
            let before = snapshot()
            let verdict = engine.replay(event, expected: stored.expected, expectedErrorOffset: stored.expectedErrorOffset, diverged: stored.diverged)
            result.append(HistoryEntry(seq: seq, event: event, verdict: verdict, before: before, after: snapshot()))
        }
        return result
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
