/// The fast path of `Event.canonicalJSON`: the same bytes, written straight from the event's
/// fields in key order, without building a `JSONValue` tree or sorting its members.
///
/// It serves events without extra fields (every event a producer writes in the vocabulary);
/// an event with extras takes the general path, which sorts the extras among the fields.
/// A test holds the two to the same output.
enum CanonicalEventWriter {
    typealias Field = EventLineDecoder.Field

    /// One field's value, as the general path would turn it into JSON.
    enum Value {
        case string(String)
        case unsigned(UInt64)
        case signed(Int64)
        case bool(Bool)
        case list([String])
        case source(EventSource)
    }

    /// The vocabulary fields in byte order of their names: the order canonical JSON writes them.
    static let order: [Field] = Field.allCases.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }

    /// The canonical JSON of `event`, which must have no extra fields.
    static func string(_ event: Event) -> String {
        var values = [Value?](repeating: nil, count: Field.allCases.count)
        func put(_ field: Field, _ value: Value?) { values[field.rawValue] = value }
        func put(range: MemoryRange) {
            switch range {
            case .file(let gmem, let offset, let size):
                put(.gmem, .string(gmem)); put(.offset, .unsigned(offset)); put(.size, .unsigned(size))
            case .guest(let vm, let gpa, let size):
                put(.vm, .string(vm)); put(.gpa, .unsigned(gpa)); put(.size, .unsigned(size))
            }
        }
        put(.op, .string(event.op.name))
        switch event.op {
        case .vmCreate(let vm, let type, let tdxConnect):
            put(.vm, .string(vm)); put(.type, .string(type)); put(.tdxConnect, .bool(tdxConnect))
            put(.kernel, event.kernel.map { .string($0.rawValue) })
        case .vmDestroy(let vm):
            put(.vm, .string(vm))
        case .vmBugged(let vm, let reason):
            put(.vm, .string(vm)); put(.reason, reason.map { .string($0) })
        case .gmemCreate(let vm, let gmem, let size, let flags, let folioSize):
            put(.vm, .string(vm)); put(.gmem, .string(gmem)); put(.size, .unsigned(size))
            put(.flags, .list(flags)); put(.folioSize, .unsigned(folioSize))
        case .gmemClose(let gmem):
            put(.gmem, .string(gmem))
        case .bind(let vm, let gmem, let slot, let gpa, let size, let offset, let hva):
            put(.vm, .string(vm)); put(.gmem, .string(gmem)); put(.slot, .unsigned(slot)); put(.gpa, .unsigned(gpa))
            put(.size, .unsigned(size)); put(.offset, .unsigned(offset)); put(.hva, hva.map { .unsigned($0) })
        case .unbind(let vm, let slot):
            put(.vm, .string(vm)); put(.slot, .unsigned(slot))
        case .populate(let range, let pfn):
            put(range: range); put(.pfn, pfn.map { .unsigned($0) })
        case .punchHole(let range), .map(let range), .accept(let range), .hostAccess(let range):
            put(range: range)
        case .zap(let range, let reason):
            put(range: range); put(.reason, reason.map { .string($0) })
        case .convertRequest(let vm, let gpa, let size, let to, let implicit):
            put(.vm, .string(vm)); put(.gpa, .unsigned(gpa)); put(.size, .unsigned(size))
            put(.to, .string(to.rawValue)); put(.implicit, .bool(implicit))
        case .convert(let range, let to):
            put(range: range); put(.to, .string(to.rawValue)); put(.via, event.via.map { .string($0.rawValue) })
        case .pin(let range, let holder), .release(let range, let holder):
            put(range: range); put(.holder, .string(holder.rawValue))
        case .reuse(let pfn, let npages, let owner):
            put(.pfn, .unsigned(pfn)); put(.npages, .unsigned(npages)); put(.owner, owner.map { .string($0) })
        case .mce(let pfn):
            put(.pfn, .unsigned(pfn))
        case .context(let tracepoint):
            put(.tracepoint, .string(tracepoint))
        case .gap(let source, let lost):
            put(.source, .string(source)); put(.lost, lost.map { .unsigned($0) })
        }
        put(.ts, event.ts.map { .signed($0) })
        put(.id, event.id.map { .string($0) })
        put(.host, .string(event.host))
        put(.actor, .string(event.actor))
        put(.result, event.result.map { .string($0) })
        put(.errorOffset, event.errorOffset.map { .unsigned($0) })
        put(.note, event.note.map { .string($0) })
        put(.src, event.source.map { .source($0) })

        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(UInt8(ascii: "{"))
        var first = true
        for field in order {
            guard let value = values[field.rawValue] else { continue }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            field.name.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(contentsOf: "\":".utf8)
            write(value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    private static func write(_ value: Value, into out: inout [UInt8]) {
        switch value {
        case .string(let text): writeString(text, into: &out)
        case .unsigned(let number): out.appendDigits(number)
        case .signed(let number):
            if number < 0 { out.append(UInt8(ascii: "-")) }
            out.appendDigits(number.magnitude)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .list(let names):
            out.append(UInt8(ascii: "["))
            for (index, name) in names.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeString(name, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .source(let source):
            out.append(contentsOf: "{\"file\":".utf8)
            writeString(source.file, into: &out)
            out.append(contentsOf: ",\"line\":".utf8)
            out.appendDigits(source.line)
            if let text = source.text {
                out.append(contentsOf: ",\"text\":".utf8)
                writeString(text, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string: as is when nothing needs escaping, else through `JSONWriter`'s escapes.
    private static func writeString(_ text: String, into out: inout [UInt8]) {
        var needsEscape = false
        for byte in text.utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C {
            needsEscape = true
            break
        }
        if needsEscape {
            var writer = JSONWriter()
            writer.writeString(text)
            out.append(contentsOf: writer.bytes)
            return
        }
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: text.utf8)
        out.append(UInt8(ascii: "\""))
    }
}

extension EventLineDecoder.Field {
    /// The field's name in the log.
    var name: StaticString {
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
        }
    }
}

extension StaticString {
    fileprivate var utf8: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: utf8Start, count: utf8CodeUnitCount) }
}
