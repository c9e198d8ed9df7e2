import CSQLite

extension EventRow {
    /// Binds `event`'s columns (`columns`, in order) to `statement` from parameter `first` on,
    /// interning its names: the values `values(of:intern:)` gives, bound straight from the
    /// event without an array of column values per row (the ingest's insert). Every parameter
    /// of the range is bound, so a reused statement needs no `sqlite3_clear_bindings`.
    static func bindColumns(of event: Event, to statement: Statement, from first: Int32, names: NameTable) throws {
        try withUnsafeTemporaryAllocation(of: Int64.self, capacity: Slot.all) { values in
            let (present, digest) = try integerColumns(of: event, into: values, intern: names.id(for:))
            for index in 0..<Slot.all {
                let parameter = first + Int32(index)
                try statement.bind(parameter, present & (1 << UInt32(index)) != 0 ? values[index] : nil)
            }
            let rest = first + Int32(Slot.all)
            try statement.bind(rest, event.id)
            try statement.bind(rest + 1, event.note)
            try statement.bind(rest + 2, try event.source.map { try names.id(for: $0.file) })
            try statement.bind(rest + 3, event.source.map { Int64(bitPattern: $0.line) })
            try statement.bind(rest + 4, event.source?.text)
            try statement.bind(rest + 5, event.extra.isEmpty ? nil : JSONWriter.string(.object(event.extra), sortsKeys: false))
            try statement.bind(rest + 6, digest)
        }
    }
}
