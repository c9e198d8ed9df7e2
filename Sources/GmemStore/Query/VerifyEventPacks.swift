/// `verify`'s check of the event packs (`event_pack`, `EventPack`): every whole block of the
/// log has its pack, and the pack holds exactly what the block's rows hold, column by column; no
/// pack stands for seqs the log does not hold whole. The rows are the evidence (the hash chain
/// covers them); a pack is what replays read, so a pack that says anything else was changed.
struct EventPackCheck {
    let store: Store
    private var builder = EventPack.Builder(next: 1)
    /// The stored pack, and (when its content is not the rows') the rows' content, decoded.
    private let reader = EventPack.Reader()
    private let expected = EventPack.Reader()
    /// The packs checked: the log's whole blocks.
    private(set) var blocks: Int64 = 0

    init(store: Store) {
        self.store = store
    }

    /// Adds the row of `seq` (its event columns from `first` on); checks the pack of its block
    /// once the block is whole.
    mutating func add(row: Statement, at first: Int32, seq: Int64, problem: Verifier.Problem) throws {
        guard store.hasEventPacks, let whole = builder.add(EventPack.Entry(row: row, at: first), seq: seq) else { return }
        blocks += 1
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
        // The first seq whose columns differ; a pack whose values are all the rows' but whose
        // bytes are not (a varint written long) was changed too.
        try expected.load(content: whole.content)
        for offset in 0..<EventPack.eventsPerBlock where !reader.next().holdsTheSame(as: expected.next()) {
            return problem(first + offset, "the event pack of seqs \(first)…\(last) differs from the event's columns: it was changed")
        }
        problem(first, "the event pack of seqs \(first)…\(last) is not the encoding of its rows: it was changed")
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
