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

    private func entries(gmem: String?, pages: Range<UInt64>, extra: Set<Int64>) throws -> [HistoryEntry] {
        var seqs = extra
        if let gmem, !pages.isEmpty {
            let statement = try store.database.prepare(
                "SELECT DISTINCT seq FROM event_touch WHERE gmem = ? AND page_lo < ? AND page_hi > ?")
            try statement.bind(1, gmem)
            try statement.bind(2, Int64(bitPattern: pages.upperBound))
            try statement.bind(3, Int64(bitPattern: pages.lowerBound))
            while try statement.step() { seqs.insert(statement.int(0)) }
        }
        guard let first = seqs.min(), let last = seqs.max() else { return [] }
        var engine = try store.engine(at: first - 1)
        var result: [HistoryEntry] = []
        func snapshot() -> [StateRun] {
            guard let gmem, let file = engine.state.file(gmem), !pages.isEmpty else { return [] }
            return StateReport.runs(of: file, pages: pages.clamped(to: 0..<file.pageCount))
        }
        try store.forEachEvent(in: first...last) { stored in
            let event = try stored.decoded()
            guard seqs.contains(stored.seq) else {
                engine.apply(event)
                return true
            }
            let before = snapshot()
            let verdict = engine.apply(event)
            result.append(HistoryEntry(seq: stored.seq, event: event, verdict: verdict, before: before, after: snapshot()))
            return true
        }
        return result
    }
}
