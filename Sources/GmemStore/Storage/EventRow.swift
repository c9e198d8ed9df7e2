import CSQLite

/// An event as schema 1 stores it: a typed row of the `event` table (Migrations/0001_schema.sql),
/// names interned in `name`, the op as its code. The canonical JSON, which the hash chain covers,
/// is derived from these columns: every column that `event(from:)` reads changes the canonical
/// body when it changes, so `verify` catches an edit to any of them.
package enum EventRow {
    /// The columns that hold the event itself, in the order `bind` and `event(from:)` use.
    package static let columns =
        "ts, op, host, actor, vm, gmem, offset, size, gpa, pfn, holder, mode, count, label, hva, result, error_offset, producer_id, note, src_file, src_line, src_text, extras, digest"
    /// How many columns `columns` names.
    static let columnCount: Int32 = 24

    /// The op names of the `op` table, code `i + 1` at index `i`: the vocabulary's numbering
    /// (`OperationSpec.all`).
    static let opNames: [String] = OperationSpec.all.map(\.name)
    static let opCodes: [String: Int64] = Dictionary(uniqueKeysWithValues: OperationSpec.all.map { ($0.name, $0.code) })

    static func code(of holder: Holder) -> Int64 {
        switch holder {
        case .td: 0
        case .iommu: 1
        case .vfio: 2
        case .gup: 3
        }
    }

    static func code(of kernel: KernelProfile?) -> Int64 {
        switch kernel {
        case nil: 0
        case .rfc2025?: 1
        case .upstream2026?: 2
        }
    }

    static func code(of via: ConversionPath?) -> Int64 {
        switch via {
        case nil: 0
        case .gmem?: 1
        case .vm?: 2
        }
    }

    static func holder(code: Int64) -> Holder? {
        switch code {
        case 0: .td
        case 1: .iommu
        case 2: .vfio
        case 3: .gup
        default: nil
        }
    }

    /// A column value.
    enum Value: Equatable {
        case null
        case integer(Int64)
        case text(String)
        case blob([UInt8])

        init(_ value: Int64?) { self = value.map(Value.integer) ?? .null }
        init(_ value: String?) { self = value.map(Value.text) ?? .null }

        /// True when `row`'s column holds this value, of this type.
        func isStored(in row: Statement, at column: Int32) -> Bool {
            switch self {
            case .null: row.isNull(column)
            case .integer(let value): sqlite3_column_type(row.handle, column) == SQLITE_INTEGER && row.int(column) == value
            case .text(let value): sqlite3_column_type(row.handle, column) == SQLITE_TEXT && row.string(column) == value
            case .blob(let value): sqlite3_column_type(row.handle, column) == SQLITE_BLOB && row.blob(column) == value
            }
        }
    }

    /// The integer columns of `columns` (ts … error_offset, 17 of them) in order.
    enum Slot {
        static let ts = 0, op = 1, host = 2, actor = 3, vm = 4, gmem = 5, offset = 6, size = 7, gpa = 8, pfn = 9,
            holder = 10, mode = 11, count = 12, label = 13, hva = 14, result = 15, errorOffset = 16
        /// How many there are.
        static let all = 17

        /// The slot of a vocabulary column that holds one integer.
        static func of(_ column: OperationField.Column) -> Int? {
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
            case .mode, .digest, .range: nil
            }
        }
    }

    /// Writes `event`'s integer columns into `values` (`Slot.all` of them, by `Slot`), and
    /// returns which are set (bit `slot`) and the digest column: the one place that lays an
    /// event out in its row, for the insert (`bindColumns`) and for `values(of:intern:)`.
    /// `intern` gives a name's id.
    static func integerColumns(
        of event: Event, into values: UnsafeMutableBufferPointer<Int64>, intern: (String) throws -> Int64
    ) rethrows -> (present: UInt32, digest: [UInt8]?) {
        var present: UInt32 = 0
        func set(_ slot: Int, _ value: Int64?) {
            if let value {
                values[slot] = value
                present |= 1 << UInt32(slot)
            }
        }
        func orMode(_ bits: Int64) {
            set(Slot.mode, (present & (1 << UInt32(Slot.mode)) != 0 ? values[Slot.mode] : 0) | bits)
        }
        func bits(_ value: UInt64) -> Int64 { Int64(bitPattern: value) }
        var digest: [UInt8]?
        set(Slot.ts, event.ts)
        set(Slot.op, event.op.spec.code)
        set(Slot.host, try intern(event.host))
        set(Slot.actor, event.actor == event.op.defaultActor ? nil : try intern(event.actor))
        // Each field of the op in the column its table row names.
        for (field, value) in zip(event.op.spec.fields, event.op.values) {
            guard let value else { continue }
            switch (field.column, value) {
            case (.range, .range(.file(let name_, let offset_, let size_))):
                set(Slot.gmem, try intern(name_)); set(Slot.offset, bits(offset_)); set(Slot.size, bits(size_))
            case (.range, .range(.guest(let name_, let gpa_, let size_))):
                set(Slot.vm, try intern(name_)); set(Slot.gpa, bits(gpa_)); set(Slot.size, bits(size_))
            case (.mode(let bit), .flag(let on)):
                orMode(on ? 1 << bit : 0)
            case (.mode(let bit), .shareability(let to)):
                orMode(to == .private ? 1 << bit : 0)
            case (.digest, .digest(let bytes)):
                digest = bytes
            case (let column, .text(let text)):
                set(Slot.of(column)!, try intern(text))
            case (let column, .names(let list)):
                set(Slot.of(column)!, try intern(JSONWriter.string(.array(list.map { .string($0) }), sortsKeys: false)))
            case (let column, .number(let number)):
                set(Slot.of(column)!, bits(number))
            case (let column, .holder(let holder_)):
                set(Slot.of(column)!, code(of: holder_))
            default:
                preconditionFailure("the vocabulary stores \(field) in a column that cannot hold it")
            }
        }
        // The kernel profile (vm_create) and the conversion path (convert): bits 3–4 and 5–6 of
        // `mode`, on whatever op carries them.
        let extraMode = (code(of: event.kernel) << 3) | (code(of: event.via) << 5)
        if extraMode != 0 { orMode(extraMode) }
        set(Slot.result, try event.result.map(intern))
        set(Slot.errorOffset, event.errorOffset.map(bits))
        return (present, digest)
    }

    /// `event`'s values for `columns`, in order; `intern` gives a name's id.
    static func values(of event: Event, intern: (String) throws -> Int64) throws -> [Value] {
        try withUnsafeTemporaryAllocation(of: Int64.self, capacity: Slot.all) { values in
            let (present, digest) = try integerColumns(of: event, into: values, intern: intern)
            var row = (0..<Slot.all).map { present & (1 << UInt32($0)) != 0 ? Value.integer(values[$0]) : .null }
            row.append(Value(event.id))
            row.append(Value(event.note))
            row.append(Value(try event.source.map { try intern($0.file) }))
            row.append(Value(event.source.map { Int64(bitPattern: $0.line) }))
            row.append(Value(event.source?.text))
            row.append(Value(event.extra.isEmpty ? nil : JSONWriter.string(.object(event.extra), sortsKeys: false)))
            row.append(digest.map(Value.blob) ?? .null)
            return row
        }
    }

    /// Binds `event`'s columns to `statement` from parameter `first` on, interning its names.
    static func bind(_ event: Event, to statement: Statement, from first: Int32, names: NameTable) throws {
        for (index, value) in try values(of: event, intern: names.id(for:)).enumerated() {
            try statement.bind(first + Int32(index), value)
        }
    }

    /// A stored row that cannot be an event: an unknown op code or name id, a missing column.
    struct Malformed: Error {
        var message: String
    }

    /// The event in `row`'s columns from `first` on (as `columns` lists them).
    static func event(from row: Statement, at first: Int32, names: NameTable) throws(Malformed) -> Event {
        var lookup = NameLookup(names)
        return try event(from: row, at: first, names: &lookup)
    }

    /// The event in `row`'s columns from `first` on, its names from `names`: a scan keeps one
    /// lookup for all its rows.
    static func event(from row: Statement, at first: Int32, names: inout NameLookup) throws(Malformed) -> Event {
        try event(from: StatementColumns(row: row, first: first), names: &names)
    }

    /// The event whose columns `row` gives (as `columns` lists them), its names from `names`.
    @inline(__always)
    static func event(from row: some EventColumnSource, names: inout NameLookup) throws(Malformed) -> Event {
        func int(_ index: Int32) -> Int64? { row.int(index) }
        func u(_ index: Int32) -> UInt64? { int(index).map { UInt64(bitPattern: $0) } }
        func name(_ index: Int32) throws(Malformed) -> String? {
            guard let id = int(index) else { return nil }
            guard let text = names.text(id) else { throw Malformed(message: "names an unknown name id \(id)") }
            return text
        }
        func required<T>(_ value: T?, _ column: String) throws(Malformed) -> T {
            guard let value else { throw Malformed(message: "has no \(column)") }
            return value
        }
        let op: Int32 = 1, vm: Int32 = 4, gmem: Int32 = 5, offset: Int32 = 6, size: Int32 = 7, gpa: Int32 = 8, holder: Int32 = 10
        func range() throws(Malformed) -> MemoryRange {
            if let gmem_ = try name(gmem) {
                return .file(gmem: gmem_, offset: try required(u(offset), "offset"), size: try required(u(size), "size"))
            }
            return .guest(vm: try required(name(vm), "vm or gmem"), gpa: try required(u(gpa), "gpa"), size: try required(u(size), "size"))
        }
        func holderValue() throws(Malformed) -> Holder {
            guard let code = int(holder), let value = Self.holder(code: code) else { throw Malformed(message: "has no valid holder") }
            return value
        }
        let code = try required(int(op), "op")
        guard code >= 1, let kind = Operation.Kind(rawValue: Int(clamping: code)) else {
            throw Malformed(message: "has an unknown op code \(code)")
        }
        let operation: Operation
        if let rangeOperation = try rangeOperation(kind, range: range, int: int, name: name, holder: holderValue) {
            operation = rangeOperation
        } else {
            operation = try generalOperation(kind, row: row, int: int, u: u, name: name, range: range, holder: holderValue)
        }
        return try event(operation, row: row, int: int, u: u, name: name)
    }

    /// The ops that act on a range (most of a log's events), built straight from
    /// their columns: the same columns, values and messages as `generalOperation`, without an
    /// array of field values per row. Nil for any other op.
    @inline(__always)
    private static func rangeOperation(
        _ kind: Operation.Kind, range: () throws(Malformed) -> MemoryRange, int: (Int32) -> Int64?,
        name: (Int32) throws(Malformed) -> String?, holder: () throws(Malformed) -> Holder
    ) throws(Malformed) -> Operation? {
        let pfn: Int32 = 9, mode: Int32 = 11, label: Int32 = 13
        switch kind {
        case .populate: return .populate(try range(), pfn: int(pfn).map { UInt64(bitPattern: $0) })
        case .punchHole: return .punchHole(try range())
        case .map: return .map(try range())
        case .accept: return .accept(try range())
        case .hostAccess: return .hostAccess(try range())
        case .zap:
            let range = try range()
            return .zap(range, reason: try name(label))
        case .convert:
            let range = try range()
            guard let bits = int(mode) else { throw Malformed(message: "has no to") }
            return .convert(range, to: bits & 1 == 1 ? .private : .shared)
        case .pin:
            let range = try range()
            return .pin(range, holder: try holder())
        case .release:
            let range = try range()
            return .release(range, holder: try holder())
        default: return nil
        }
    }

    /// Any op, built by its table row: each field from the column the row names.
    private static func generalOperation(
        _ kind: Operation.Kind, row: some EventColumnSource, int: (Int32) -> Int64?, u: (Int32) -> UInt64?,
        name: (Int32) throws(Malformed) -> String?, range: () throws(Malformed) -> MemoryRange, holder holderValue: () throws(Malformed) -> Holder
    ) throws(Malformed) -> Operation {
        func required<T>(_ value: T?, _ column: String) throws(Malformed) -> T {
            guard let value else { throw Malformed(message: "has no \(column)") }
            return value
        }
        let vm: Int32 = 4, gmem: Int32 = 5, offset: Int32 = 6, size: Int32 = 7, gpa: Int32 = 8, pfn: Int32 = 9, mode: Int32 = 11,
            count: Int32 = 12, label: Int32 = 13, hva: Int32 = 14
        // Each field of the op from the column its table row names.
        let fields = kind.spec.fields
        var values: [OperationValue?] = []
        values.reserveCapacity(fields.count)
        for field in fields {
            // The field's name, for a message only: not built for a well-formed row.
            func what() -> String { field.key?.key ?? "vm or gmem" }
            let index: Int32
            switch field.column {
            case .range:
                values.append(.range(try range()))
                continue
            case .mode(let bit):
                if field.kind == .flag {
                    values.append(.flag((int(mode) ?? 0) >> bit & 1 == 1))
                } else {
                    values.append(.shareability(try required(int(mode), what()) >> bit & 1 == 1 ? .private : .shared))
                }
                continue
            case .digest:
                guard let digest = row.digest() else { throw Malformed(message: "has no \(what())") }
                values.append(.digest(digest))
                continue
            case .holder:
                values.append(.holder(try holderValue()))
                continue
            case .vm: index = vm
            case .gmem: index = gmem
            case .offset: index = offset
            case .size: index = size
            case .gpa: index = gpa
            case .pfn: index = pfn
            case .count: index = count
            case .label: index = label
            case .hva: index = hva
            }
            let value: OperationValue?
            switch field.kind {
            case .identifier, .text:
                value = try name(index).map(OperationValue.text)
            case .names:
                guard let text = try name(index) else {
                    value = nil
                    break
                }
                guard case .array(let items)? = try? JSONParser.parse(text) else { throw Malformed(message: "has unreadable \(what())") }
                var names: [String] = []
                for item in items {
                    guard case .string(let name) = item else { throw Malformed(message: "has unreadable \(what())") }
                    names.append(name)
                }
                value = .names(names)
            default:
                value = u(index).map(OperationValue.number)
            }
            if !field.optional, value == nil { throw Malformed(message: "has no \(what())") }
            values.append(value)
        }
        guard let operation = Operation(kind, values: values) else { throw Malformed(message: "does not hold a \(kind.spec.name)") }
        return operation
    }

    /// The event of `operation` with the rest of `row`'s columns.
    @inline(__always)
    private static func event(
        _ operation: Operation, row: some EventColumnSource, int: (Int32) -> Int64?, u: (Int32) -> UInt64?,
        name: (Int32) throws(Malformed) -> String?
    ) throws(Malformed) -> Event {
        func required<T>(_ value: T?, _ column: String) throws(Malformed) -> T {
            guard let value else { throw Malformed(message: "has no \(column)") }
            return value
        }
        let ts: Int32 = 0, host: Int32 = 2, actor: Int32 = 3, mode: Int32 = 11, result: Int32 = 15, errorOffset: Int32 = 16
        var source: EventSource?
        if let file = try name(19) {
            source = EventSource(file: file, line: try required(u(20), "src_line"), text: row.text(21))
        }
        var extra: [JSONMember] = []
        if let text = row.text(22) {
            guard case .object(let members)? = try? JSONParser.parse(text) else { throw Malformed(message: "has unreadable extras") }
            extra = members
        }
        let modeBits = int(mode) ?? 0
        let kernel: KernelProfile?
        switch (modeBits >> 3) & 3 {
        case 0: kernel = nil
        case 1: kernel = .rfc2025
        case 2: kernel = .upstream2026
        default: throw Malformed(message: "has an unknown kernel profile code")
        }
        let via: ConversionPath?
        switch (modeBits >> 5) & 3 {
        case 0: via = nil
        case 1: via = .gmem
        case 2: via = .vm
        default: throw Malformed(message: "has an unknown conversion path code")
        }
        return Event(
            operation, ts: int(ts), id: row.text(17), host: try required(name(host), "host"), actor: try name(actor),
            result: try name(result), errorOffset: u(errorOffset), note: row.text(18), source: source, extra: extra,
            kernel: kernel, via: via)
    }
}

/// The columns of one event, by their index in `EventRow.columns`: a row of a statement, or an
/// entry of an event pack (`EventPack.Entry`, integer columns only).
protocol EventColumnSource {
    /// An integer column; nil when NULL.
    func int(_ column: Int32) -> Int64?
    /// A text column; nil when NULL.
    func text(_ column: Int32) -> String?
    /// The digest column, when it holds a blob.
    func digest() -> [UInt8]?
}

/// The event columns of a statement's row, from column `first` on.
struct StatementColumns: EventColumnSource {
    let row: Statement
    let first: Int32

    @inline(__always)
    func int(_ column: Int32) -> Int64? { row.optionalInt(first + column) }
    func text(_ column: Int32) -> String? { row.optionalString(first + column) }
    func digest() -> [UInt8]? {
        sqlite3_column_type(row.handle, first + 23) == SQLITE_BLOB ? row.blob(first + 23) : nil
    }
}

extension Statement {
    /// Binds a column value.
    func bind(_ index: Int32, _ value: EventRow.Value) throws(SQLiteError) {
        switch value {
        case .null: try bind(index, nil as Int64?)
        case .integer(let number): try bind(index, number)
        case .text(let text): try bind(index, text)
        case .blob(let bytes): try bind(index, bytes)
        }
    }
}
