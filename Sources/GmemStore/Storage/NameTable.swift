/// The store's interned strings (`name` table): VM and gmem names, hosts, actors, results,
/// labels and source file names, each stored once and named by id in every event row. The
/// store keeps one table per connection, read incrementally (ids only grow: the table is
/// append-only), so a replay turns an id into a name with one array index.
final class NameTable {
    private unowned let database: Database
    /// Text by id; index 0 is never an id.
    private(set) var texts: [String?] = [nil]
    private var ids: [String: Int64] = [:]
    /// The names the latest rows named, searched by their two words before `ids` is hashed:
    /// an ingest names the same few hosts, actors, VMs, files and results row after row. Equal
    /// words are the same string (the same small-string bytes, or the same storage, which the
    /// entry keeps alive), so a hit gives what `ids` would. Derived from `ids`, and dropped with it.
    private var recent: [(bits: NameBits, text: String, id: Int64)] = []
    private var nextRecent = 0
    private static let recentCapacity = 16

    init(database: Database) {
        self.database = database
    }

    /// The text of `id`, reading names added since the last look (another writer's) on a miss.
    func text(_ id: Int64) -> String? {
        if id > 0, id < texts.count, let text = texts[Int(id)] { return text }
        try? refresh()
        guard id > 0, id < texts.count else { return nil }
        return texts[Int(id)]
    }

    /// The id of `text`, when it is stored.
    func existingID(for text: String) throws(SQLiteError) -> Int64? {
        if let id = ids[text] { return id }
        try refresh()
        return ids[text]
    }

    /// The id of `text`, storing it (inside the caller's write transaction) when it is new.
    func id(for text: String) throws -> Int64 {
        let bits = NameBits(text)
        for entry in recent where entry.bits == bits { return entry.id }
        if let id = try existingID(for: text) {
            rememberRecent(bits, text, id)
            return id
        }
        let insert = try database.cached("INSERT INTO name(text) VALUES (?)")
        try insert.bind(1, text)
        try insert.run()
        let id = database.lastInsertRowID
        remember(id: id, text: text)
        return id
    }

    /// Reads the names stored since the last look.
    func refresh() throws(SQLiteError) {
        let statement = try database.cached("SELECT id, text FROM name WHERE id >= ? ORDER BY id")
        defer { statement.reset() }
        try statement.bind(1, Int64(texts.count))
        while try statement.step() { remember(id: statement.int(0), text: statement.string(1)) }
    }

    /// After a write transaction rolled back: forgets every name, since some were read or
    /// written inside it and their ids may be given to other names; they are read again.
    func rollback() {
        texts = [nil]
        ids = [:]
        recent = []
        nextRecent = 0
    }

    private func rememberRecent(_ bits: NameBits, _ text: String, _ id: Int64) {
        if recent.count < Self.recentCapacity {
            recent.append((bits, text, id))
        } else {
            recent[nextRecent] = (bits, text, id)
            nextRecent = (nextRecent + 1) % Self.recentCapacity
        }
    }

    private func remember(id: Int64, text: String) {
        guard id > 0 else { return }
        if id >= texts.count { texts += [String?](repeating: nil, count: Int(id) - texts.count + 1) }
        texts[Int(id)] = text
        ids[text] = id
    }
}
