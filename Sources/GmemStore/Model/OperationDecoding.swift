/// The general decoder's reading of an op, driven by the vocabulary table
/// (`OperationSpec.all`): every field by its kind, in its row's order, with the row's defaults
/// and checks. Adding an op adds its row; this file does not change.
extension Operation {
    init(name: String, fields: inout FieldReader) throws(EventDecodingError) {
        guard let spec = OperationSpec.named(name) else {
            throw EventDecodingError(field: "op", "unknown operation '\(name)'")
        }
        var values: [OperationValue?] = []
        values.reserveCapacity(spec.fields.count)
        for field in spec.fields {
            let value = try fields.value(of: field) ?? field.defaultValue
            if value == nil, !field.optional, let key = field.key { throw EventDecodingError(field: key.key, "missing") }
            values.append(value)
        }
        for (index, field) in spec.fields.enumerated() {
            guard let check = field.check, let value = values[index] else { continue }
            try Self.demand(check, of: value, field: field, among: spec.fields, values)
        }
        guard let operation = Operation(spec.kind, values: values) else {
            // Every value has its field's kind and every required one is there: the table and
            // `init(_:values:)` disagree, which the vocabulary tests rule out.
            preconditionFailure("the vocabulary row of '\(name)' does not build its op")
        }
        self = operation
    }

    /// Throws when `value` of `field` does not meet `check`; the other fields' values (in the
    /// row's order) are there for the checks that relate two of them.
    private static func demand(
        _ check: OperationField.Check, of value: OperationValue, field: OperationField, among row: [OperationField],
        _ values: [OperationValue?]
    ) throws(EventDecodingError) {
        let key = field.key?.key ?? "range"
        func number(_ other: EventField) -> UInt64? {
            guard let index = row.firstIndex(where: { $0.key == other }), case .number(let found)? = values[index] else { return nil }
            return found
        }
        switch (check, value) {
        case (.oneOf(let allowed), .number(let number)):
            guard !allowed.contains(number) else { return }
            let names = allowed.map(String.init)
            let list = names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined()
            throw EventDecodingError(field: key, "must be \(list), not \(number)")
        case (.startOfSize, .number(let start)):
            if let size = number(.size) { try FieldReader().checkEnd(key, start, size) }
        case (.firstFrameOfRange, .number(let pfn)):
            guard let index = row.firstIndex(where: { $0.kind == .range }), case .range(let range)? = values[index] else { return }
            try FieldReader().checkFrames(key, pfn, range.size / pageSize)
        case (.framesFromPFN, .number(let count)):
            guard count > 0 else { throw EventDecodingError(field: key, "must be greater than zero") }
            if let pfn = number(.pfn) { try FieldReader().checkFrames(key, pfn, count) }
        case (.batchNumber, .number(let batch)):
            guard batch >= 1, batch <= UInt64(Int64.max) else { throw EventDecodingError(field: key, "must be a batch number from 1") }
        case (.seqNumber, .number(let seq)):
            guard seq >= 1, seq <= UInt64(Int64.max) else { throw EventDecodingError(field: key, "must be a seq from 1") }
        case (.seqFromFirst, .number(let last)):
            let first = number(.firstSeq) ?? 1
            guard last >= first, last <= UInt64(Int64.max) else {
                throw EventDecodingError(field: key, "must be a seq from first_seq (\(first)) on")
            }
        case (.saysWhy, .text(let text)):
            guard text.contains(where: { !$0.isWhitespace }) else { throw EventDecodingError(field: key, "must say why") }
        default:
            preconditionFailure("check \(check) does not apply to a \(field.kind) field")
        }
    }
}

extension FieldReader {
    /// The value of `field` as its kind reads it; nil when the event leaves it out.
    mutating func value(of field: OperationField) throws(EventDecodingError) -> OperationValue? {
        guard let key = field.key?.key else { return .range(try memoryRange()) }
        switch field.kind {
        case .identifier:
            return try identifier(key).map(OperationValue.text)
        case .text:
            return try string(key).map(OperationValue.text)
        case .number:
            return try number(key).map(OperationValue.number)
        case .aligned:
            return try aligned(key).map(OperationValue.number)
        case .size:
            guard let size = try aligned(key) else { return nil }
            guard size > 0 else { throw EventDecodingError(field: key, "must be greater than zero") }
            return .number(size)
        case .flag:
            return try bool(key).map(OperationValue.flag)
        case .shareability:
            return .shareability(try shareability(key))
        case .holder:
            return .holder(try holder())
        case .names:
            return try stringList(key).map(OperationValue.names)
        case .digest:
            guard let text = try string(key) else { return nil }
            guard let bytes = HashChain.bytes(hex: text), bytes.count == 32 else {
                throw EventDecodingError(field: key, "must be a SHA-256 as 64 hex digits")
            }
            return .digest(bytes)
        case .range:
            return .range(try memoryRange())
        }
    }
}
