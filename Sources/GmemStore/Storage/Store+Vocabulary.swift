/// The `op` table grows with the vocabulary without a new schema version: a new op is a row
/// appended with the next code, and no code is ever renumbered or reused (docs/STORE.md, "The op
/// table"). A store made by an earlier build therefore holds a prefix of this build's table.
extension Store {
    /// Appends the op rows this build knows and the store's table lacks (a store made by an
    /// earlier build). Run by every writing open, so that `event_view` names every op a new
    /// event may use; a store that already has them is only read.
    static func appendNewOps(_ database: Database) throws {
        let stored = try database.scalarInt("SELECT count(*) FROM op") ?? 0
        guard stored < Int64(EventRow.opNames.count) else { return }
        try database.writeTransaction { () throws(SQLiteError) in
            let insert = try database.prepare("INSERT OR IGNORE INTO op(code, name) VALUES (?, ?)")
            for (index, name) in EventRow.opNames.enumerated() {
                try insert.bind(1, Int64(index + 1))
                try insert.bind(2, name)
                try insert.run()
                insert.reset()
            }
        }
    }

    /// What is wrong with a stored op table, or nil when it is this build's table or a prefix of
    /// it that names every op code the log uses (a store made by an earlier build, not written
    /// since).
    static func vocabularyProblem(stored: [(code: Int64, name: String)], highestUsedCode: Int64?) -> String? {
        let names = EventRow.opNames
        for (index, row) in stored.enumerated() where row.code != Int64(index + 1) || index >= names.count || row.name != names[index] {
            return "the op table differs from the vocabulary at code \(row.code) ('\(row.name)'): it was changed"
        }
        if let highestUsedCode, highestUsedCode > Int64(stored.count) {
            return "the op table names \(stored.count) ops but an event uses code \(highestUsedCode): it was cut short"
        }
        return nil
    }
}
