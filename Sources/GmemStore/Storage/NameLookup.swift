/// A reader's copy of the name table's texts by id, taken once and kept for a whole scan: a
/// row's name is one index into a local array (a retain of the shared String, no allocation),
/// without the class's access checks per look. An id it does not hold (a name another writer
/// added since) is read through the table, which refreshes, and the copy is taken again.
struct NameLookup {
    private let table: NameTable
    private var texts: [String?]

    init(_ table: NameTable) {
        self.table = table
        texts = table.texts
    }

    /// The text of `id`; nil for an id the store does not hold.
    @inline(__always)
    mutating func text(_ id: Int64) -> String? {
        if id > 0, id < texts.count, let text = texts[Int(id)] { return text }
        return miss(id)
    }

    private mutating func miss(_ id: Int64) -> String? {
        let text = table.text(id)
        texts = table.texts
        return text
    }
}
