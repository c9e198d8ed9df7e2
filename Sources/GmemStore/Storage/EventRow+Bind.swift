import CSQLite

extension EventRow {
    /// Binds `event`'s columns (`columns`, in order) to `statement` from parameter `first` on,
    /// interning its names: the values `values(of:intern:)` gives, bound straight from the
    /// event without an array of column values per row (the ingest's insert). Every parameter
    /// of the range is bound, so a reused statement needs no `sqlite3_clear_bindings`.
    static func bindColumns(of event: Event, to statement: Statement, from first: Int32, names: NameTable) throws {
        // The integer columns of `columns` (ts … error_offset), in order, and which are set.
        try withUnsafeTemporaryAllocation(of: Int64.self, capacity: 17) { values in
            var present: UInt32 = 0
            let ts = 0, op = 1, host = 2, actor = 3, vm = 4, gmem = 5, offset = 6, size = 7, gpa = 8, pfn = 9, holder = 10,
                mode = 11, count = 12, label = 13, hva = 14, result = 15, errorOffset = 16
            func set(_ index: Int, _ value: Int64?) {
                if let value {
                    values[index] = value
                    present |= 1 << UInt32(index)
                } else {
                    present &= ~(1 << UInt32(index))
                }
            }
            func orMode(_ bits: Int64) {
                set(mode, (present & (1 << UInt32(mode)) != 0 ? values[mode] : 0) | bits)
            }
            func bits(_ value: UInt64) -> Int64 { Int64(bitPattern: value) }
            func integer(_ column: OperationField.Column) -> Int {
                switch column {
                case .vm: vm
                case .gmem: gmem
                case .offset: offset
                case .size: size
                case .gpa: gpa
                case .pfn: pfn
                case .holder: holder
                case .count: count
                case .label: label
                case .hva: hva
                case .mode, .digest, .range: preconditionFailure("the vocabulary stores \(column) in no integer column")
                }
            }
            var digest: [UInt8]?
            set(ts, event.ts)
            set(op, event.op.spec.code)
            set(host, try names.id(for: event.host))
            set(actor, event.actor == event.op.defaultActor ? nil : try names.id(for: event.actor))
            for index in vm...errorOffset { set(index, nil) }
            for (field, value) in zip(event.op.spec.fields, event.op.values) {
                guard let value else { continue }
                switch (field.column, value) {
                case (.range, .range(.file(let name_, let offset_, let size_))):
                    set(gmem, try names.id(for: name_)); set(offset, bits(offset_)); set(size, bits(size_))
                case (.range, .range(.guest(let name_, let gpa_, let size_))):
                    set(vm, try names.id(for: name_)); set(gpa, bits(gpa_)); set(size, bits(size_))
                case (.mode(let bit), .flag(let on)):
                    orMode(on ? 1 << bit : 0)
                case (.mode(let bit), .shareability(let to)):
                    orMode(to == .private ? 1 << bit : 0)
                case (.digest, .digest(let bytes)):
                    digest = bytes
                case (let column, .text(let text)):
                    set(integer(column), try names.id(for: text))
                case (let column, .names(let list)):
                    set(integer(column), try names.id(for: JSONWriter.string(.array(list.map { .string($0) }), sortsKeys: false)))
                case (let column, .number(let number)):
                    set(integer(column), bits(number))
                case (let column, .holder(let holder_)):
                    set(integer(column), code(of: holder_))
                default:
                    preconditionFailure("the vocabulary stores \(field) in a column that cannot hold it")
                }
            }
            // The kernel profile (vm_create) and the conversion path (convert): bits 3–4 and
            // 5–6 of `mode`, on whatever op carries them.
            let extraMode = (code(of: event.kernel) << 3) | (code(of: event.via) << 5)
            if extraMode != 0 { orMode(extraMode) }
            set(result, try event.result.map { try names.id(for: $0) })
            set(errorOffset, event.errorOffset.map(bits))
            for index in 0..<17 {
                let parameter = first + Int32(index)
                try statement.bind(parameter, present & (1 << UInt32(index)) != 0 ? values[index] : nil)
            }
            try statement.bind(first + 17, event.id)
            try statement.bind(first + 18, event.note)
            try statement.bind(first + 19, try event.source.map { try names.id(for: $0.file) })
            try statement.bind(first + 20, event.source.map { Int64(bitPattern: $0.line) })
            try statement.bind(first + 21, event.source?.text)
            try statement.bind(first + 22, event.extra.isEmpty ? nil : JSONWriter.string(.object(event.extra), sortsKeys: false))
            try statement.bind(first + 23, digest)
        }
    }
}
