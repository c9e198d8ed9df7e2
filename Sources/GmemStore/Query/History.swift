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
        let statement = try store.database.prepare("SELECT body FROM event WHERE op = 'bind' ORDER BY seq")
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
        let statement = try store.database.prepare("SELECT seq, body FROM event WHERE op IN ('populate', 'reuse', 'mce') ORDER BY seq")
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

    /// The entries for `pages` of `gmem` plus the events in `extra`: from the nearest snapshot
    /// before the first of them, a sparse replay of only the events that change VMs, bindings
    /// or files (`event_structure`) and those that touched the pages (`page_span`), each with
    /// its recorded outcome (`Engine.replay`). Exact for the pages asked about; it never reads
    /// the events of other pages.
    private func entries(gmem: String?, pages: Range<UInt64>, extra: Set<Int64>) throws -> [HistoryEntry] {
        var seqs = extra
        if let gmem, !pages.isEmpty {
            seqs.formUnion(try PageSpanIndex.seqs(touching: pages, of: gmem, in: store))
        }
        guard let first = seqs.min(), let last = seqs.max() else { return [] }
        // Closed files' pages are left out unless the file asked about is one of them.
        var start = try store.snapshot(atOrBefore: first - 1, closedFilePages: false)
        if let gmem, let index = start.state.fileIndex[gmem], !start.state.files[index].isOpen {
            start = try store.snapshot(atOrBefore: first - 1)
        }
        var replayed = seqs
        let structure = try store.database.cached("""
            SELECT seq FROM event WHERE seq > ? AND seq <= ?
            AND (op IN ('vm_create', 'vm_destroy', 'vm_bugged', 'gmem_create', 'gmem_close', 'bind', 'unbind')
               OR (op IN ('zap', 'punch_hole', 'convert') AND (expected IS NULL OR expected = 'EIO' OR diverged = 1)))
            """)
        defer { structure.reset() }
        try structure.bind(1, start.seq)
        try structure.bind(2, last)
        while try structure.step() { replayed.insert(structure.int(0)) }

        var engine = Engine(state: start.state)
        var result: [HistoryEntry] = []
        func snapshot() -> [StateRun] {
            guard let gmem, let file = engine.state.file(gmem), !pages.isEmpty else { return [] }
            return StateReport.runs(of: file, pages: pages.clamped(to: 0..<file.pageCount))
        }
        let row = try store.database.cached(
            "SELECT seq, batch, body, hash, expected, expected_error_offset, diverged FROM event WHERE seq = ?")
        defer { row.reset() }
        for seq in replayed.sorted() {
            try row.bind(1, seq)
            guard try row.step() else { continue }
            let stored = Store.StoredEvent(
                seq: row.int(0), batch: row.int(1), body: row.string(2), hash: row.blob(3),
                expected: row.optionalString(4), expectedErrorOffset: row.optionalInt(5), diverged: row.int(6) != 0)
            row.reset()
            let event = try stored.decoded()
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
}
