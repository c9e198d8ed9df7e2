import CSQLite

/// An event as schema 1 stores it: a typed row of the `event` table (Migrations/0001_schema.sql),
/// names interned in `name`, the op as its code. The canonical JSON, which the hash chain covers,
/// is derived from these columns: every column that `event(from:)` reads changes the canonical
/// body when it changes, so `verify` catches an edit to any of them.
enum EventRow {
    /// The columns that hold the event itself, in the order `bind` and `event(from:)` use.
    static let columns =
        "ts, op, host, actor, vm, gmem, offset, size, gpa, pfn, holder, mode, count, label, hva, result, error_offset, producer_id, note, src_file, src_line, src_text, extras"
    /// How many columns `columns` names.
    static let columnCount: Int32 = 23

    /// The op codes of the `op` table, by `Operation.name`: the vocabulary's one numbering.
    static let opNames: [String] = [
        "vm_create", "vm_destroy", "vm_bugged", "gmem_create", "gmem_close", "bind", "unbind", "populate", "punch_hole", "map",
        "zap", "convert_request", "convert", "accept", "pin", "release", "host_access", "reuse", "mce", "context",
        "gap",
    ]
    static let opCodes: [String: Int64] = Dictionary(uniqueKeysWithValues: opNames.enumerated().map { ($1, Int64($0 + 1)) })

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

        init(_ value: Int64?) { self = value.map(Value.integer) ?? .null }
        init(_ value: String?) { self = value.map(Value.text) ?? .null }

        /// True when `row`'s column holds this value, of this type.
        func isStored(in row: Statement, at column: Int32) -> Bool {
            switch self {
            case .null: row.isNull(column)
            case .integer(let value): sqlite3_column_type(row.handle, column) == SQLITE_INTEGER && row.int(column) == value
            case .text(let value): sqlite3_column_type(row.handle, column) == SQLITE_TEXT && row.string(column) == value
            }
        }
    }

    /// `event`'s values for `columns`, in order; `intern` gives a name's id.
    static func values(of event: Event, intern: (String) throws -> Int64) throws -> [Value] {
        var values = [Int64?](repeating: nil, count: 17)
        // Indexes into `values`: the integer columns of `columns`, in order.
        let ts = 0, op = 1, host = 2, actor = 3, vm = 4, gmem = 5, offset = 6, size = 7, gpa = 8, pfn = 9, holder = 10,
            mode = 11, count = 12, label = 13, hva = 14, result = 15, errorOffset = 16
        func bits(_ value: UInt64?) -> Int64? { value.map { Int64(bitPattern: $0) } }
        func name(_ text: String?) throws -> Int64? { try text.map { try intern($0) } }
        func put(range: MemoryRange) throws {
            switch range {
            case .file(let name_, let offset_, let size_):
                values[gmem] = try name(name_); values[offset] = bits(offset_); values[size] = bits(size_)
            case .guest(let name_, let gpa_, let size_):
                values[vm] = try name(name_); values[gpa] = bits(gpa_); values[size] = bits(size_)
            }
        }
        values[ts] = event.ts
        values[op] = opCodes[event.op.name]!
        values[host] = try name(event.host)
        values[actor] = event.actor == event.op.defaultActor ? nil : try name(event.actor)
        switch event.op {
        case .vmCreate(let name_, let type, let tdxConnect):
            values[vm] = try name(name_); values[label] = try name(type); values[mode] = tdxConnect ? 1 : 0
        case .vmDestroy(let name_):
            values[vm] = try name(name_)
        case .vmBugged(let name_, let reason):
            values[vm] = try name(name_); values[label] = try name(reason)
        case .gmemCreate(let vm_, let gmem_, let size_, let flags, let folioSize):
            values[vm] = try name(vm_); values[gmem] = try name(gmem_); values[size] = bits(size_)
            values[label] = try name(JSONWriter.string(.array(flags.map { .string($0) }), sortsKeys: false))
            values[count] = bits(folioSize)
        case .gmemClose(let gmem_):
            values[gmem] = try name(gmem_)
        case .bind(let vm_, let gmem_, let slot, let gpa_, let size_, let offset_, let hva_):
            values[vm] = try name(vm_); values[gmem] = try name(gmem_); values[count] = bits(slot)
            values[gpa] = bits(gpa_); values[size] = bits(size_); values[offset] = bits(offset_); values[hva] = bits(hva_)
        case .unbind(let vm_, let slot):
            values[vm] = try name(vm_); values[count] = bits(slot)
        case .populate(let range, let pfn_):
            try put(range: range); values[pfn] = bits(pfn_)
        case .punchHole(let range), .map(let range), .accept(let range), .hostAccess(let range):
            try put(range: range)
        case .zap(let range, let reason):
            try put(range: range); values[label] = try name(reason)
        case .convertRequest(let vm_, let gpa_, let size_, let to, let implicit):
            values[vm] = try name(vm_); values[gpa] = bits(gpa_); values[size] = bits(size_)
            values[mode] = (to == .private ? 1 : 0) | (implicit ? 2 : 0)
        case .convert(let range, let to):
            try put(range: range); values[mode] = to == .private ? 1 : 0
        case .pin(let range, let holder_), .release(let range, let holder_):
            try put(range: range); values[holder] = code(of: holder_)
        case .reuse(let pfn_, let npages, let owner):
            values[pfn] = bits(pfn_); values[count] = bits(npages); values[label] = try name(owner)
        case .mce(let pfn_):
            values[pfn] = bits(pfn_)
        case .context(let tracepoint):
            values[label] = try name(tracepoint)
        case .gap(let source, let lost):
            values[label] = try name(source); values[count] = bits(lost)
        }
        // The kernel profile (vm_create) and the conversion path (convert): bits 3–4 and 5–6 of
        // `mode`, on whatever op carries them.
        let extraMode = (Self.code(of: event.kernel) << 3) | (Self.code(of: event.via) << 5)
        if extraMode != 0 { values[mode] = (values[mode] ?? 0) | extraMode }
        values[result] = try name(event.result)
        values[errorOffset] = bits(event.errorOffset)
        var row = values.map(Value.init)
        row.append(Value(event.id))
        row.append(Value(event.note))
        row.append(Value(try name(event.source?.file)))
        row.append(Value(event.source.map { Int64(bitPattern: $0.line) }))
        row.append(Value(event.source?.text))
        row.append(Value(event.extra.isEmpty ? nil : JSONWriter.string(.object(event.extra), sortsKeys: false)))
        return row
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
        func int(_ index: Int32) -> Int64? { row.optionalInt(first + index) }
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
        let ts: Int32 = 0, op: Int32 = 1, host: Int32 = 2, actor: Int32 = 3, vm: Int32 = 4, gmem: Int32 = 5, offset: Int32 = 6,
            size: Int32 = 7, gpa: Int32 = 8, pfn: Int32 = 9, holder: Int32 = 10, mode: Int32 = 11, count: Int32 = 12,
            label: Int32 = 13, hva: Int32 = 14, result: Int32 = 15, errorOffset: Int32 = 16
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
        guard code >= 1, code <= Int64(opNames.count) else { throw Malformed(message: "has an unknown op code \(code)") }
        let operation: Operation
        switch opNames[Int(code - 1)] {
        case "vm_create":
            operation = .vmCreate(vm: try required(name(vm), "vm"), type: try required(name(label), "type"), tdxConnect: (int(mode) ?? 0) & 1 == 1)
        case "vm_destroy": operation = .vmDestroy(vm: try required(name(vm), "vm"))
        case "vm_bugged": operation = .vmBugged(vm: try required(name(vm), "vm"), reason: try name(label))
        case "gmem_create":
            let flagsText = try required(name(label), "flags")
            guard case .array(let items)? = try? JSONParser.parse(flagsText) else { throw Malformed(message: "has unreadable flags") }
            var flags: [String] = []
            for item in items {
                guard case .string(let flag) = item else { throw Malformed(message: "has unreadable flags") }
                flags.append(flag)
            }
            operation = .gmemCreate(
                vm: try required(name(vm), "vm"), gmem: try required(name(gmem), "gmem"), size: try required(u(size), "size"),
                flags: flags, folioSize: try required(u(count), "folio_size"))
        case "gmem_close": operation = .gmemClose(gmem: try required(name(gmem), "gmem"))
        case "bind":
            operation = .bind(
                vm: try required(name(vm), "vm"), gmem: try required(name(gmem), "gmem"), slot: try required(u(count), "slot"),
                gpa: try required(u(gpa), "gpa"), size: try required(u(size), "size"), offset: try required(u(offset), "offset"),
                hva: u(hva))
        case "unbind": operation = .unbind(vm: try required(name(vm), "vm"), slot: try required(u(count), "slot"))
        case "populate": operation = .populate(try range(), pfn: u(pfn))
        case "punch_hole": operation = .punchHole(try range())
        case "map": operation = .map(try range())
        case "zap": operation = .zap(try range(), reason: try name(label))
        case "convert_request":
            let bits = try required(int(mode), "to")
            operation = .convertRequest(
                vm: try required(name(vm), "vm"), gpa: try required(u(gpa), "gpa"), size: try required(u(size), "size"),
                to: bits & 1 == 1 ? .private : .shared, implicit: bits & 2 == 2)
        case "convert": operation = .convert(try range(), to: try required(int(mode), "to") & 1 == 1 ? .private : .shared)
        case "accept": operation = .accept(try range())
        case "pin": operation = .pin(try range(), holder: try holderValue())
        case "release": operation = .release(try range(), holder: try holderValue())
        case "host_access": operation = .hostAccess(try range())
        case "reuse": operation = .reuse(pfn: try required(u(pfn), "pfn"), npages: try required(u(count), "npages"), owner: try name(label))
        case "mce": operation = .mce(pfn: try required(u(pfn), "pfn"))
        case "gap": operation = .gap(source: try required(name(label), "source"), lost: u(count))
        default: operation = .context(tracepoint: try required(name(label), "tracepoint"))
        }
        var source: EventSource?
        if let file = try name(19) {
            source = EventSource(file: file, line: try required(u(20), "src_line"), text: row.optionalString(first + 21))
        }
        var extra: [JSONMember] = []
        if let text = row.optionalString(first + 22) {
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
            operation, ts: int(ts), id: row.optionalString(first + 17), host: try required(name(host), "host"), actor: try name(actor),
            result: try name(result), errorOffset: u(errorOffset), note: row.optionalString(first + 18), source: source, extra: extra,
            kernel: kernel, via: via)
    }
}

extension Statement {
    /// Binds a column value.
    func bind(_ index: Int32, _ value: EventRow.Value) throws(SQLiteError) {
        switch value {
        case .null: try bind(index, nil as Int64?)
        case .integer(let number): try bind(index, number)
        case .text(let text): try bind(index, text)
        }
    }
}
