/// `verify`'s check of the event packs (`event_pack`, `EventPack`): every whole block of the
/// log has its pack, and the pack holds exactly what the block's rows hold, column by column; no
/// pack stands for seqs the log does not hold whole. The rows are the evidence (the hash chain
/// covers them); a pack is what replays read, so a pack that says anything else was changed.
struct EventPackCheck {
    let store: Store
    private var builder = EventPack.Builder(next: 1)
    /// The entries of the block being built, to name the first seq a changed pack differs at.
    private var entries: [EventPack.Entry] = []
    private let reader = EventPack.Reader()
    /// The packs checked: the log's whole blocks.
    private(set) var blocks: Int64 = 0

    init(store: Store) {
        self.store = store
    }

    /// Adds the row of `seq` (its event columns from `first` on); checks the pack of its block
    /// once the block is whole.
    mutating func add(row: Statement, at first: Int32, seq: Int64, problem: Verifier.Problem) throws {
        guard store.hasEventPacks else { return }
        let entry = EventPack.Entry(row: row, at: first)
        if EventPack.block(of: seq) != builder.block { entries.removeAll(keepingCapacity: true) }
        entries.append(entry)
        guard let whole = builder.add(entry, seq: seq) else {
            if seq % EventPack.eventsPerBlock == 0 { entries.removeAll(keepingCapacity: true) }
            return
        }
        blocks += 1
        defer { entries.removeAll(keepingCapacity: true) }
        let first = EventPack.firstSeq(of: whole.block)
        let last = first + EventPack.eventsPerBlock - 1
        let stored = try store.database.cached("SELECT events FROM event_pack WHERE block = ?")
        defer { stored.reset() }
        try stored.bind(1, whole.block)
        guard try stored.step() else {
            return problem(first, "the event pack of seqs \(first)…\(last) is missing: it was deleted")
        }
        let decoded = stored.withBytes(0) { bytes in (try? reader.load(UnsafeRawBufferPointer(bytes))) != nil }
        guard decoded else { return problem(first, "the event pack of seqs \(first)…\(last) does not decode: it was changed") }
        if reader.content == whole.content { return }
        for (index, entry) in entries.enumerated() {
            guard let packed = try? reader.next(), packed.holdsTheSame(as: entry) else {
                return problem(first + Int64(index), "the event pack of seqs \(first)…\(last) differs from the event's columns: it was changed")
            }
        }
        problem(first, "the event pack of seqs \(first)…\(last) does not decode: it was changed")
    }

    /// Checks that the store holds no pack beyond the blocks checked.
    func checkCount(problem: Verifier.Problem) throws {
        guard store.hasEventPacks else { return }
        let stored = try store.database.scalarInt("SELECT count(*) FROM event_pack") ?? 0
        if stored != blocks {
            problem(nil, "event_pack holds \(stored) packs, the log has \(blocks) whole blocks of \(EventPack.eventsPerBlock) events: a pack was added or deleted")
        }
    }
}
