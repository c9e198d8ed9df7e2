import CSQLite

extension EventRow {
    /// Binds `event`'s columns (`columns`, in order) to `statement` from parameter `first` on,
    /// interning its names, and returns its event pack entry: the values `values(of:intern:)`
    /// gives, bound straight from the event without an array of column values per row (the
    /// ingest's insert). Every parameter of the range is bound, so a reused statement needs no
    /// `sqlite3_clear_bindings`.
    static func bindColumns(of event: Event, to statement: Statement, from first: Int32, names: NameTable) throws -> EventPack.Entry {
        try withUnsafeTemporaryAllocation(of: Int64.self, capacity: Slot.all) { values in
            let (present, digest) = try integerColumns(of: event, into: values, intern: names.id(for:))
            var entry = EventPack.Entry()
            for index in 0..<Slot.all {
                let parameter = first + Int32(index)
                let value = present & (1 << UInt32(index)) != 0 ? values[index] : nil
                try statement.bind(parameter, value)
                entry.set(Int32(index), value)
            }
            let rest = first + Int32(Slot.all)
            let sourceFile = try event.source.map { try names.id(for: $0.file) }
            let sourceLine = event.source.map { Int64(bitPattern: $0.line) }
            let extras = event.extra.isEmpty ? nil : JSONWriter.string(.object(event.extra), sortsKeys: false)
            try statement.bind(rest, event.id)
            try statement.bind(rest + 1, event.note)
            try statement.bind(rest + 2, sourceFile)
            try statement.bind(rest + 3, sourceLine)
            try statement.bind(rest + 4, event.source?.text)
            try statement.bind(rest + 5, extras)
            try statement.bind(rest + 6, digest)
            entry.set(19, sourceFile)  // src_file and src_line: columns 19 and 20 of `columns`
            entry.set(20, sourceLine)
            entry.hasText = event.id != nil || event.note != nil || event.source?.text != nil || extras != nil || digest != nil
            return entry
        }
    }
}
