/// The fast path of `Event.canonicalJSON`: the same bytes, written straight from the event's
/// fields in key order, without building a `JSONValue` tree or sorting its members.
///
/// It serves events without extra fields (every event a producer writes in the vocabulary);
/// an event with extras takes the general path, which sorts the extras among the fields.
/// A test holds the two to the same output.
enum CanonicalEventWriter {
    typealias Field = EventField

    /// One field's value, as the general path would turn it into JSON.
    enum Value {
        case string(String)
        case unsigned(UInt64)
        case signed(Int64)
        case bool(Bool)
        case list([String])
        case source(EventSource)

        /// An op field's value (EventVocabulary.swift) as the general path writes it.
        init(_ value: OperationValue) {
            switch value {
            case .text(let text): self = .string(text)
            case .number(let number): self = .unsigned(number)
            case .flag(let flag): self = .bool(flag)
            case .shareability(let to): self = .string(to.rawValue)
            case .holder(let holder): self = .string(holder.rawValue)
            case .names(let names): self = .list(names)
            case .digest(let bytes): self = .string(HashChain.hex(bytes))
            case .range: preconditionFailure("forEachMember writes a range as its three fields")
            }
        }
    }

    /// The vocabulary fields in byte order of their names: the order canonical JSON writes them.
    static let order: [Field] = Field.allCases.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }

    /// The canonical JSON of `event`, which must have no extra fields.
    static func string(_ event: Event) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(event, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the canonical JSON of `event`, which must have no extra fields, to `out`: the
    /// ingest writes every event into one reused buffer and hashes it from there.
    static func write(_ event: Event, into out: inout [UInt8]) {
        // The values of the fields the event has, on the stack and marked in `present`: a table
        // of every field's optional value per event (a heap array, each slot set to nil and
        // destroyed through the runtime's generic witnesses) cost more than writing the JSON.
        withUnsafeTemporaryAllocation(of: Value.self, capacity: fieldCount) { values in
            let slots = values.baseAddress!
            var present: UInt64 = 0
            defer {
                for field in order where present & field.bit != 0 { (slots + field.rawValue).deinitialize(count: 1) }
            }
            func put(_ field: Field, _ value: Value?) {
                guard let value else { return }
                if present & field.bit != 0 {
                    slots[field.rawValue] = value
                } else {
                    (slots + field.rawValue).initialize(to: value)
                    present |= field.bit
                }
            }
            put(.op, .string(event.op.name))
            event.op.forEachMember { field, value in put(field, Value(value)) }
            switch event.op {
            case .vmCreate: put(.kernel, event.kernel.map { .string($0.rawValue) })
            case .convert: put(.via, event.via.map { .string($0.rawValue) })
            default: break
            }
            put(.ts, event.ts.map { .signed($0) })
            put(.id, event.id.map { .string($0) })
            put(.host, .string(event.host))
            put(.actor, .string(event.actor))
            put(.result, event.result.map { .string($0) })
            put(.errorOffset, event.errorOffset.map { .unsigned($0) })
            put(.note, event.note.map { .string($0) })
            put(.src, event.source.map { .source($0) })

            out.append(UInt8(ascii: "{"))
            var first = true
            for field in order where present & field.bit != 0 {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.append(UInt8(ascii: "\""))
                field.name.withUTF8Buffer { out.append(contentsOf: $0) }
                out.append(UInt8(ascii: "\""))
                out.append(UInt8(ascii: ":"))
                write(slots[field.rawValue], into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// How many vocabulary fields there are (`EventField.allCases.count`, counted once).
    private static let fieldCount = Field.allCases.count

    private static func write(_ value: Value, into out: inout [UInt8]) {
        switch value {
        case .string(let text): writeString(text, into: &out)
        case .unsigned(let number): out.appendDigits(number)
        case .signed(let number):
            if number < 0 { out.append(UInt8(ascii: "-")) }
            out.appendDigits(number.magnitude)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false" as StaticString).utf8)
        case .list(let names):
            out.append(UInt8(ascii: "["))
            for (index, name) in names.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeString(name, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .source(let source):
            out.append(contentsOf: ("{\"file\":" as StaticString).utf8)
            writeString(source.file, into: &out)
            out.append(contentsOf: (",\"line\":" as StaticString).utf8)
            out.appendDigits(source.line)
            if let text = source.text {
                out.append(contentsOf: (",\"text\":" as StaticString).utf8)
                writeString(text, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string: as is when nothing needs escaping, else through `JSONWriter`'s escapes.
    /// Read and copied from the string's own UTF-8 buffer (a string's `utf8` view appended
    /// element by element was a third of the writer's cost).
    static func writeString(_ text: String, into out: inout [UInt8]) {
        var text = text
        let escaped: Bool = text.withUTF8 { bytes in
            for byte in bytes where byte < 0x20 || byte == 0x22 || byte == 0x5C { return true }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: bytes)
            out.append(UInt8(ascii: "\""))
            return false
        }
        guard escaped else { return }
        var writer = JSONWriter()
        writer.writeString(text)
        out.append(contentsOf: writer.bytes)
    }
}

extension StaticString {
    fileprivate var utf8: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: utf8Start, count: utf8CodeUnitCount) }
}
