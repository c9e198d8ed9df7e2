/// The event vocabulary (EVENTS.md §2) in one table: every op with its name in the log, its code
/// in the store's `op` table, and its fields — each with its JSON key, its kind and the `event`
/// column that stores it. The canonical writer (both paths), the row codec, the `op` table and
/// op-name parsing read this table; adding an op is a row here, a case of `Operation`, its two
/// bindings below, the engine and the docs (docs/STORE.md, "Adding an op").
public struct OperationSpec: Sendable {
    public let kind: Operation.Kind
    /// The `op` name used in the log.
    public let name: String
    public let fields: [OperationField]

    /// The op's code in the store's `op` table and the `event.op` column: never renumbered.
    public var code: Int64 { Int64(kind.rawValue) }

    /// The vocabulary, in code order: row `i` is op code `i + 1`. A new op is appended.
    public static let all: [OperationSpec] = [
        OperationSpec(.vmCreate, "vm_create", [
            .init(.vm, .identifier, .vm), .init(.type, .text, .label, default: .text("tdx")), .init(.tdxConnect, .flag, .mode(bit: 0), default: .flag(false)),
        ]),
        OperationSpec(.vmDestroy, "vm_destroy", [.init(.vm, .identifier, .vm)]),
        OperationSpec(.vmBugged, "vm_bugged", [.init(.vm, .identifier, .vm), .init(.reason, .text, .label, optional: true)]),
        OperationSpec(.gmemCreate, "gmem_create", [
            .init(.vm, .identifier, .vm), .init(.gmem, .identifier, .gmem), .init(.size, .size, .size),
            .init(.flags, .names, .label, default: .names([])),
            .init(.folioSize, .number, .count, default: .number(4096), check: .oneOf([4096, 2_097_152, 1_073_741_824])),
        ]),
        OperationSpec(.gmemClose, "gmem_close", [.init(.gmem, .identifier, .gmem)]),
        OperationSpec(.bind, "bind", [
            .init(.vm, .identifier, .vm), .init(.gmem, .identifier, .gmem), .init(.slot, .number, .count),
            .init(.gpa, .aligned, .gpa, check: .startOfSize), .init(.size, .size, .size),
            .init(.offset, .aligned, .offset, check: .startOfSize), .init(.hva, .number, .hva, optional: true),
        ]),
        OperationSpec(.unbind, "unbind", [.init(.vm, .identifier, .vm), .init(.slot, .number, .count)]),
        OperationSpec(.populate, "populate", [.range, .init(.pfn, .number, .pfn, optional: true, check: .firstFrameOfRange)]),
        OperationSpec(.punchHole, "punch_hole", [.range]),
        OperationSpec(.map, "map", [.range]),
        OperationSpec(.zap, "zap", [.range, .init(.reason, .text, .label, optional: true)]),
        OperationSpec(.convertRequest, "convert_request", [
            .init(.vm, .identifier, .vm), .init(.gpa, .aligned, .gpa, check: .startOfSize), .init(.size, .size, .size),
            .init(.to, .shareability, .mode(bit: 0)), .init(.implicit, .flag, .mode(bit: 1), default: .flag(false)),
        ]),
        OperationSpec(.convert, "convert", [.range, .init(.to, .shareability, .mode(bit: 0))]),
        OperationSpec(.accept, "accept", [.range]),
        OperationSpec(.pin, "pin", [.range, .init(.holder, .holder, .holder)]),
        OperationSpec(.release, "release", [.range, .init(.holder, .holder, .holder)]),
        OperationSpec(.hostAccess, "host_access", [.range]),
        OperationSpec(.reuse, "reuse", [
            .init(.pfn, .number, .pfn), .init(.npages, .number, .count, check: .framesFromPFN),
            .init(.owner, .identifier, .label, optional: true),
        ]),
        OperationSpec(.mce, "mce", [.init(.pfn, .number, .pfn)]),
        OperationSpec(.context, "context", [.init(.tracepoint, .identifier, .label)]),
        OperationSpec(.gap, "gap", [.init(.source, .identifier, .label), .init(.lost, .number, .count, optional: true)]),
        OperationSpec(.retract, "retract", [
            .init(.batch, .number, .count, check: .batchNumber), .init(.firstSeq, .number, .offset, check: .seqNumber),
            .init(.lastSeq, .number, .size, check: .seqFromFirst), .init(.lastHash, .digest, .digest),
            .init(.reason, .text, .label, check: .saysWhy),
        ]),
    ]

    /// The op named `name` in the log, or nil for a name outside the vocabulary.
    public static func named(_ name: String) -> OperationSpec? { byName[name] }

    private static let byName: [String: OperationSpec] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    init(_ kind: Operation.Kind, _ name: String, _ fields: [OperationField]) {
        self.kind = kind
        self.name = name
        self.fields = fields
    }
}

/// One field of an op: where it is in the JSON, what kind of value it holds, and where the row
/// keeps it.
public struct OperationField: Sendable, Equatable {
    /// What a field holds, and so how it is written and read.
    public enum Kind: Sendable, Equatable {
        /// A name of a thing (vm, gmem, owner, tracepoint, source): no control characters.
        case identifier
        /// Free text (type, reason).
        case text
        /// An unsigned 64-bit number.
        case number
        /// A number that is a multiple of the page size.
        case aligned
        /// An aligned number greater than zero.
        case size
        case flag
        case shareability
        case holder
        /// A list of strings (`flags`).
        case names
        /// A SHA-256, written as 64 hex digits.
        case digest
        /// A memory range: `gmem` + `offset` + `size`, or `vm` + `gpa` + `size`.
        case range
    }

    /// The `event` column (Migrations/0001_schema.sql) a field is stored in.
    public enum Column: Sendable, Equatable {
        case vm, gmem, offset, size, gpa, pfn, holder, count, label, hva
        /// One bit of the `mode` column.
        case mode(bit: Int)
        /// The `digest` blob.
        case digest
        /// `gmem` + `offset` + `size`, or `vm` + `gpa` + `size`.
        case range
    }

    /// The JSON key; nil for a range, which is three keys.
    public let key: EventField?
    public let kind: Kind
    public let column: Column
    /// True when an event of the op may leave the field out.
    public let optional: Bool
    /// The value a decoder gives the field when an event leaves it out (EVENTS.md §2's
    /// defaults); nil when it must be given (or, for an optional field, stays absent).
    public let defaultValue: OperationValue?
    /// What a decoder demands of the value beyond its kind; nil for nothing more.
    public let check: Check?

    /// A demand on a field's value beyond its kind, checked by the decoders after every field
    /// of the op has been read.
    public enum Check: Sendable, Equatable {
        /// One of these numbers (`folio_size`: the folio sizes guest_memfd supports).
        case oneOf([UInt64])
        /// A start address: it plus the op's `size` must not wrap past 2^64.
        case startOfSize
        /// The first frame of a range: the range's frames must not run past frame 2^64 − 1.
        case firstFrameOfRange
        /// A frame count, above zero: that many frames from the op's `pfn` must not run past
        /// frame 2^64 − 1.
        case framesFromPFN
        /// A batch number: 1 … 2^63 − 1.
        case batchNumber
        /// A seq: 1 … 2^63 − 1.
        case seqNumber
        /// A seq from the op's `first_seq` on, up to 2^63 − 1.
        case seqFromFirst
        /// Text that says why: more than whitespace (a retraction's reason).
        case saysWhy
    }

    init(_ key: EventField, _ kind: Kind, _ column: Column, optional: Bool = false, default defaultValue: OperationValue? = nil, check: Check? = nil) {
        self.key = key
        self.kind = kind
        self.column = column
        self.optional = optional
        self.defaultValue = defaultValue
        self.check = check
    }

    private init(range: ()) {
        key = nil
        kind = .range
        column = .range
        optional = false
        defaultValue = nil
        check = nil
    }

    /// The memory range an op acts on.
    static let range = OperationField(range: ())
}

/// A field's value, as the table's kinds hold it.
public enum OperationValue: Equatable, Sendable {
    case text(String)
    case number(UInt64)
    case flag(Bool)
    case shareability(Shareability)
    case holder(Holder)
    case names([String])
    case digest([UInt8])
    case range(MemoryRange)
}

extension Operation {
    /// The ops without their fields; the raw value is the op code (`OperationSpec.code`).
    public enum Kind: Int, CaseIterable, Sendable {
        case vmCreate = 1, vmDestroy, vmBugged, gmemCreate, gmemClose, bind, unbind, populate, punchHole, map
        case zap, convertRequest, convert, accept, pin, release, hostAccess, reuse, mce, context
        case gap
        case retract

        /// The op's row of the vocabulary table.
        public var spec: OperationSpec { OperationSpec.all[rawValue - 1] }
    }

    /// The op's row of the vocabulary table.
    public var spec: OperationSpec { kind.spec }

    /// The `op` name used in the log.
    public var name: String { kind.spec.name }

    public var kind: Kind {
        switch self {
        case .vmCreate: .vmCreate
        case .vmDestroy: .vmDestroy
        case .vmBugged: .vmBugged
        case .gmemCreate: .gmemCreate
        case .gmemClose: .gmemClose
        case .bind: .bind
        case .unbind: .unbind
        case .populate: .populate
        case .punchHole: .punchHole
        case .map: .map
        case .zap: .zap
        case .convertRequest: .convertRequest
        case .convert: .convert
        case .accept: .accept
        case .pin: .pin
        case .release: .release
        case .hostAccess: .hostAccess
        case .reuse: .reuse
        case .mce: .mce
        case .context: .context
        case .gap: .gap
        case .retract: .retract
        }
    }

    /// The op's field values, in the order of its table row; nil for an optional field left out.
    public var values: [OperationValue?] {
        func n(_ value: UInt64?) -> OperationValue? { value.map(OperationValue.number) }
        func t(_ value: String?) -> OperationValue? { value.map(OperationValue.text) }
        switch self {
        case .vmCreate(let vm, let type, let tdxConnect): return [t(vm), t(type), .flag(tdxConnect)]
        case .vmDestroy(let vm): return [t(vm)]
        case .vmBugged(let vm, let reason): return [t(vm), t(reason)]
        case .gmemCreate(let vm, let gmem, let size, let flags, let folioSize): return [t(vm), t(gmem), n(size), .names(flags), n(folioSize)]
        case .gmemClose(let gmem): return [t(gmem)]
        case .bind(let vm, let gmem, let slot, let gpa, let size, let offset, let hva):
            return [t(vm), t(gmem), n(slot), n(gpa), n(size), n(offset), n(hva)]
        case .unbind(let vm, let slot): return [t(vm), n(slot)]
        case .populate(let range, let pfn): return [.range(range), n(pfn)]
        case .punchHole(let range), .map(let range), .accept(let range), .hostAccess(let range): return [.range(range)]
        case .zap(let range, let reason): return [.range(range), t(reason)]
        case .convertRequest(let vm, let gpa, let size, let to, let implicit): return [t(vm), n(gpa), n(size), .shareability(to), .flag(implicit)]
        case .convert(let range, let to): return [.range(range), .shareability(to)]
        case .pin(let range, let holder), .release(let range, let holder): return [.range(range), .holder(holder)]
        case .reuse(let pfn, let npages, let owner): return [n(pfn), n(npages), t(owner)]
        case .mce(let pfn): return [n(pfn)]
        case .context(let tracepoint): return [t(tracepoint)]
        case .gap(let source, let lost): return [t(source), n(lost)]
        case .retract(let batch, let firstSeq, let lastSeq, let lastHash, let reason):
            return [n(batch), n(firstSeq), n(lastSeq), .digest(lastHash), t(reason)]
        }
    }

    /// The op of `kind` with `values` in the order of its table row; nil when a value the op
    /// needs is missing or of the wrong kind. The inverse of `values`.
    public init?(_ kind: Kind, values: [OperationValue?]) {
        guard values.count == kind.spec.fields.count else { return nil }
        var index = 0
        func next() -> OperationValue? {
            defer { index += 1 }
            return values[index]
        }
        func text() -> String? { if case .text(let value)? = next() { value } else { nil } }
        func number() -> UInt64? { if case .number(let value)? = next() { value } else { nil } }
        func flag() -> Bool? { if case .flag(let value)? = next() { value } else { nil } }
        func range() -> MemoryRange? { if case .range(let value)? = next() { value } else { nil } }
        func to() -> Shareability? { if case .shareability(let value)? = next() { value } else { nil } }
        func holder() -> Holder? { if case .holder(let value)? = next() { value } else { nil } }
        func names() -> [String]? { if case .names(let value)? = next() { value } else { nil } }
        func digest() -> [UInt8]? { if case .digest(let value)? = next() { value } else { nil } }
        switch kind {
        case .vmCreate:
            guard let vm = text(), let type = text(), let tdxConnect = flag() else { return nil }
            self = .vmCreate(vm: vm, type: type, tdxConnect: tdxConnect)
        case .vmDestroy:
            guard let vm = text() else { return nil }
            self = .vmDestroy(vm: vm)
        case .vmBugged:
            guard let vm = text() else { return nil }
            self = .vmBugged(vm: vm, reason: text())
        case .gmemCreate:
            guard let vm = text(), let gmem = text(), let size = number(), let flags = names(), let folioSize = number() else { return nil }
            self = .gmemCreate(vm: vm, gmem: gmem, size: size, flags: flags, folioSize: folioSize)
        case .gmemClose:
            guard let gmem = text() else { return nil }
            self = .gmemClose(gmem: gmem)
        case .bind:
            guard let vm = text(), let gmem = text(), let slot = number(), let gpa = number(), let size = number(),
                let offset = number()
            else { return nil }
            self = .bind(vm: vm, gmem: gmem, slot: slot, gpa: gpa, size: size, offset: offset, hva: number())
        case .unbind:
            guard let vm = text(), let slot = number() else { return nil }
            self = .unbind(vm: vm, slot: slot)
        case .populate:
            guard let range = range() else { return nil }
            self = .populate(range, pfn: number())
        case .punchHole:
            guard let range = range() else { return nil }
            self = .punchHole(range)
        case .map:
            guard let range = range() else { return nil }
            self = .map(range)
        case .zap:
            guard let range = range() else { return nil }
            self = .zap(range, reason: text())
        case .convertRequest:
            guard let vm = text(), let gpa = number(), let size = number(), let to = to(), let implicit = flag() else { return nil }
            self = .convertRequest(vm: vm, gpa: gpa, size: size, to: to, implicit: implicit)
        case .convert:
            guard let range = range(), let to = to() else { return nil }
            self = .convert(range, to: to)
        case .accept:
            guard let range = range() else { return nil }
            self = .accept(range)
        case .pin:
            guard let range = range(), let holder = holder() else { return nil }
            self = .pin(range, holder: holder)
        case .release:
            guard let range = range(), let holder = holder() else { return nil }
            self = .release(range, holder: holder)
        case .hostAccess:
            guard let range = range() else { return nil }
            self = .hostAccess(range)
        case .reuse:
            guard let pfn = number(), let npages = number() else { return nil }
            self = .reuse(pfn: pfn, npages: npages, owner: text())
        case .mce:
            guard let pfn = number() else { return nil }
            self = .mce(pfn: pfn)
        case .context:
            guard let tracepoint = text() else { return nil }
            self = .context(tracepoint: tracepoint)
        case .gap:
            guard let source = text() else { return nil }
            self = .gap(source: source, lost: number())
        case .retract:
            guard let batch = number(), let firstSeq = number(), let lastSeq = number(), let lastHash = digest(),
                let reason = text()
            else { return nil }
            self = .retract(batch: batch, firstSeq: firstSeq, lastSeq: lastSeq, lastHash: lastHash, reason: reason)
        }
    }

    /// Calls `body` with each JSON member of the op's fields (`op` itself excluded), a range as
    /// its three members: the one walk both canonical writers and the docs' field lists share.
    func forEachMember(_ body: (EventField, OperationValue) -> Void) {
        for (field, value) in zip(spec.fields, values) {
            guard let value else { continue }
            if case .range(let range) = value {
                switch range {
                case .file(let gmem, let offset, let size):
                    body(.gmem, .text(gmem)); body(.offset, .number(offset)); body(.size, .number(size))
                case .guest(let vm, let gpa, let size):
                    body(.vm, .text(vm)); body(.gpa, .number(gpa)); body(.size, .number(size))
                }
            } else if let key = field.key {
                body(key, value)
            }
        }
    }
}

/// The keys the vocabulary gives a meaning to (EVENTS.md §2), plus `src`, numbered for the fast
/// decoder's bit mask. The event's own fields come first, then the ops' fields.
public enum EventField: Int, CaseIterable, Sendable {
    case op, ts, id, host, actor, result, note, errorOffset, src
    case vm, gmem, offset, gpa, size, type, tdxConnect, reason, flags, folioSize
    case slot, hva, pfn, to, implicit, holder, npages, owner, tracepoint, kernel, via
    case source, lost
    case batch, firstSeq, lastSeq, lastHash

    var bit: UInt64 { 1 << UInt64(rawValue) }

    /// The field's name in the log.
    public var name: StaticString {
        switch self {
        case .op: "op"
        case .ts: "ts"
        case .id: "id"
        case .host: "host"
        case .actor: "actor"
        case .result: "result"
        case .note: "note"
        case .errorOffset: "error_offset"
        case .src: "src"
        case .vm: "vm"
        case .gmem: "gmem"
        case .offset: "offset"
        case .gpa: "gpa"
        case .size: "size"
        case .type: "type"
        case .tdxConnect: "tdx_connect"
        case .reason: "reason"
        case .flags: "flags"
        case .folioSize: "folio_size"
        case .slot: "slot"
        case .hva: "hva"
        case .pfn: "pfn"
        case .to: "to"
        case .implicit: "implicit"
        case .holder: "holder"
        case .npages: "npages"
        case .owner: "owner"
        case .tracepoint: "tracepoint"
        case .kernel: "kernel"
        case .via: "via"
        case .source: "source"
        case .lost: "lost"
        case .batch: "batch"
        case .firstSeq: "first_seq"
        case .lastSeq: "last_seq"
        case .lastHash: "last_hash"
        }
    }

    /// The name as a `String`.
    public var key: String { name.withUTF8Buffer { String(decoding: $0, as: UTF8.self) } }
}
