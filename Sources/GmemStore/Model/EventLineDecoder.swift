#if canImport(Glibc)
import Glibc
#endif

/// The fast path of event decoding: one pass over a line's bytes straight into an `Event`,
/// with no `JSONValue` tree, no dictionary of fields and no allocation besides the event's own
/// strings.
///
/// It accepts only the common shape of a line: one flat object of vocabulary fields (plus
/// `flags` as a list of strings and `src` as `{file, line, text}`), strings without escapes,
/// integer numbers, every field one the op takes. For anything else, including every line
/// that is wrong, it returns nil and the caller uses the general decoder, `Event(json:)`,
/// which gives the answer and the error message. So the two cannot disagree on an error, and
/// on the lines this path does accept, a test holds it to the general decoder's result.
/// Stored bodies are canonical JSON and always take this path; so do JSON Lines from most
/// producers.
public enum EventLineDecoder {
    /// The vocabulary's keys (EventVocabulary.swift).
    typealias Field = EventField

    /// Where a field's value lies in the line.
    struct Slot {
        enum Kind: UInt8 { case string, number, bool, array, object }
        var kind: Kind
        /// For strings, the text between the quotes; for numbers, the digits; for lists and
        /// objects, from the bracket to the closing one.
        var start: Int
        var end: Int
        var flag: Bool
        /// A string with bytes past ASCII, which must be checked as UTF-8.
        var wide: Bool
    }

    /// Decodes one line, or returns nil when the line is not of the shape this path takes.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> Event? {
        withUnsafeTemporaryAllocation(of: Slot.self, capacity: Field.allCases.count) { slots in
            var fields = Fields(bytes: bytes, slots: slots.baseAddress!)
            guard fields.scan() else { return nil }
            return fields.event()
        }
    }

    /// The fields of one line, read lazily from their slots.
    struct Fields {
        let bytes: UnsafeBufferPointer<UInt8>
        let slots: UnsafeMutablePointer<Slot>
        var present: UInt64 = 0
        var consumed: UInt64 = 0
        /// Set when a field has a value the general decoder would reject or treat otherwise.
        var failed = false
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>, slots: UnsafeMutablePointer<Slot>) {
            self.bytes = bytes
            self.slots = slots
        }

        // MARK: Scanning

        private mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        private mutating func expect(_ byte: UInt8) -> Bool {
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        /// A string without escapes or control characters: the range between its quotes.
        private mutating func plainString() -> (start: Int, end: Int, wide: Bool)? {
            guard expect(UInt8(ascii: "\"")) else { return nil }
            let start = position
            var wide = false
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    position += 1
                    return (start, position - 1, wide)
                }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                if byte >= 0x80 { wide = true }
                position += 1
            }
            return nil
        }

        /// An integer as JSON writes it: `-`? then `0` or digits without a leading zero.
        private mutating func integer() -> (start: Int, end: Int)? {
            let start = position
            _ = expect(UInt8(ascii: "-"))
            let digits = position
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
            let count = position - digits
            guard count > 0, count == 1 || bytes[digits] != 0x30 else { return nil }
            if position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return nil
                default: break
                }
            }
            return (start, position)
        }

        private mutating func literal(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard position + count <= bytes.count, memcmp(text.utf8Start, bytes.baseAddress! + position, count) == 0 else { return false }
            position += count
            return true
        }

        /// Reads the object and records where each field's value lies. False when the line is
        /// not a flat object of distinct vocabulary fields.
        mutating func scan() -> Bool {
            skipWhitespace()
            guard expect(UInt8(ascii: "{")) else { return false }
            skipWhitespace()
            if expect(UInt8(ascii: "}")) { return false }  // no op: the general path says so
            while true {
                skipWhitespace()
                guard let key = plainString(), !key.wide else { return false }
                guard let field = Field.named(UnsafeBufferPointer(rebasing: bytes[key.start..<key.end])),
                    present & field.bit == 0
                else { return false }
                skipWhitespace()
                guard expect(UInt8(ascii: ":")) else { return false }
                skipWhitespace()
                guard position < bytes.count else { return false }
                let slot: Slot
                switch bytes[position] {
                case UInt8(ascii: "\""):
                    guard let text = plainString() else { return false }
                    slot = Slot(kind: .string, start: text.start, end: text.end, flag: false, wide: text.wide)
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard let number = integer() else { return false }
                    slot = Slot(kind: .number, start: number.start, end: number.end, flag: false, wide: false)
                case UInt8(ascii: "t"):
                    guard literal("true") else { return false }
                    slot = Slot(kind: .bool, start: 0, end: 0, flag: true, wide: false)
                case UInt8(ascii: "f"):
                    guard literal("false") else { return false }
                    slot = Slot(kind: .bool, start: 0, end: 0, flag: false, wide: false)
                case UInt8(ascii: "[") where field == .flags:
                    let start = position
                    guard stringList() else { return false }
                    slot = Slot(kind: .array, start: start, end: position, flag: false, wide: false)
                case UInt8(ascii: "{") where field == .src:
                    let start = position
                    guard sourceObject() else { return false }
                    slot = Slot(kind: .object, start: start, end: position, flag: false, wide: false)
                default:
                    return false  // null, nested values elsewhere, anything unusual
                }
                slots[field.rawValue] = slot
                present |= field.bit
                skipWhitespace()
                if expect(UInt8(ascii: ",")) { continue }
                guard expect(UInt8(ascii: "}")) else { return false }
                skipWhitespace()
                return position == bytes.count
            }
        }

        /// `[` strings `]`, skipped over; checked again when read.
        private mutating func stringList() -> Bool {
            position += 1
            skipWhitespace()
            if expect(UInt8(ascii: "]")) { return true }
            while true {
                skipWhitespace()
                guard plainString() != nil else { return false }
                skipWhitespace()
                if expect(UInt8(ascii: ",")) { continue }
                return expect(UInt8(ascii: "]"))
            }
        }

        /// `{"file": string, "line": integer, "text": string}` in any order, `text` optional.
        private mutating func sourceObject() -> Bool {
            position += 1
            var seen = 0
            skipWhitespace()
            while true {
                skipWhitespace()
                guard let key = plainString() else { return false }
                let name = UnsafeBufferPointer(rebasing: bytes[key.start..<key.end])
                let bit: Int
                if name.elementsEqual("file".utf8) { bit = 1 } else if name.elementsEqual("line".utf8) { bit = 2 } else if name.elementsEqual("text".utf8) { bit = 4 } else { return false }
                guard seen & bit == 0 else { return false }
                seen |= bit
                skipWhitespace()
                guard expect(UInt8(ascii: ":")) else { return false }
                skipWhitespace()
                if bit == 2 {
                    guard position < bytes.count, bytes[position] != UInt8(ascii: "-"), integer() != nil else { return false }
                } else {
                    guard plainString() != nil else { return false }
                }
                skipWhitespace()
                if expect(UInt8(ascii: ",")) { continue }
                guard expect(UInt8(ascii: "}")) else { return false }
                return seen & 3 == 3
            }
        }

        // MARK: Reading fields as the general decoder does

        private mutating func take(_ field: Field) -> Slot? {
            guard present & field.bit != 0 else { return nil }
            consumed |= field.bit
            return slots[field.rawValue]
        }

        private func text(_ start: Int, _ end: Int, wide: Bool) -> String? {
            let slice = UnsafeBufferPointer(rebasing: bytes[start..<end])
            return wide ? String(validating: slice, as: UTF8.self) : String(decoding: slice, as: UTF8.self)
        }

        mutating func string(_ field: Field) -> String? {
            guard let slot = take(field) else { return nil }
            guard slot.kind == .string, let value = text(slot.start, slot.end, wide: slot.wide) else {
                failed = true
                return nil
            }
            return value
        }

        mutating func identifier(_ field: Field) -> String? {
            guard let slot = take(field) else { return nil }
            switch slot.kind {
            case .string where slot.end > slot.start:
                // Raw bytes below 0x20 never reach here (`plainString`); DEL does, and an id
                // must not hold it: the general decoder says so.
                if memchr(bytes.baseAddress! + slot.start, 0x7F, slot.end - slot.start) == nil,
                    let value = text(slot.start, slot.end, wide: slot.wide)
                {
                    return value
                }
            case .number:
                return text(slot.start, slot.end, wide: false)
            default:
                break
            }
            failed = true
            return nil
        }

        mutating func required<T>(_ value: T?) -> T? {
            if value == nil { failed = true }
            return value
        }

        mutating func bool(_ field: Field) -> Bool? {
            guard let slot = take(field) else { return nil }
            guard slot.kind == .bool else {
                failed = true
                return nil
            }
            return slot.flag
        }

        /// An unsigned number: a JSON integer, or a string of decimal or `0x` hex digits.
        mutating func number(_ field: Field) -> UInt64? {
            guard let slot = take(field) else { return nil }
            var start = slot.start
            var radix: UInt64 = 10
            switch slot.kind {
            case .number:
                break
            case .string:
                if slot.end - start >= 2, bytes[start] == 0x30, bytes[start + 1] | 0x20 == UInt8(ascii: "x") {
                    start += 2
                    radix = 16
                }
            default:
                failed = true
                return nil
            }
            guard start < slot.end else {
                failed = true
                return nil
            }
            guard case .success(let value) = FieldReader.digits(bytes[start..<slot.end], radix: radix) else {
                failed = true
                return nil
            }
            return value
        }

        mutating func aligned(_ field: Field) -> UInt64? {
            guard let value = number(field) else { return nil }
            if value % pageSize != 0 { failed = true }
            return value
        }

        mutating func size(_ field: Field) -> UInt64? {
            let value = required(aligned(field))
            if value == 0 { failed = true }
            return value
        }

        mutating func end(_ start: UInt64?, _ size: UInt64?) {
            if let start, let size, start.addingReportingOverflow(size).overflow { failed = true }
        }

        /// Frames `first` … `first + count − 1` must exist (`checkFrames`).
        mutating func frames(_ first: UInt64, _ count: UInt64) {
            if count > 0, first.addingReportingOverflow(count - 1).overflow { failed = true }
        }

        mutating func memoryRange() -> MemoryRange? {
            let size = size(.size)
            if present & (Field.gmem.bit | Field.offset.bit) != 0 {
                let gmem = required(identifier(.gmem))
                let offset = required(aligned(.offset))
                end(offset, size)
                guard let gmem, let offset, let size else { return nil }
                return .file(gmem: gmem, offset: offset, size: size)
            }
            if present & (Field.vm.bit | Field.gpa.bit) != 0 {
                let vm = required(identifier(.vm))
                let gpa = required(aligned(.gpa))
                end(gpa, size)
                guard let vm, let gpa, let size else { return nil }
                return .guest(vm: vm, gpa: gpa, size: size)
            }
            failed = true
            return nil
        }

        mutating func shareability(_ field: Field) -> Shareability? {
            guard let value = required(string(field)).flatMap(Shareability.init(rawValue:)) else {
                failed = true
                return nil
            }
            return value
        }

        mutating func holder() -> Holder? {
            guard let value = required(string(.holder)).flatMap(Holder.init(rawValue:)) else {
                failed = true
                return nil
            }
            return value
        }

        mutating func flags() -> [String]? {
            guard let slot = take(.flags) else { return nil }
            guard slot.kind == .array else {
                failed = true
                return nil
            }
            var names: [String] = []
            var index = slot.start + 1
            while index < slot.end {
                guard bytes[index] == UInt8(ascii: "\"") else {
                    index += 1
                    continue
                }
                let start = index + 1
                var end = start
                var wide = false
                while bytes[end] != UInt8(ascii: "\"") {
                    if bytes[end] >= 0x80 { wide = true }
                    end += 1
                }
                guard let name = text(start, end, wide: wide) else {
                    failed = true
                    return nil
                }
                names.append(name)
                index = end + 1
            }
            return names
        }

        mutating func timestamp() -> Int64? {
            guard let slot = take(.ts) else { return nil }
            switch slot.kind {
            case .number:
                if let value = Int64(text(slot.start, slot.end, wide: false)!) { return value }
            case .string:
                if let text = text(slot.start, slot.end, wide: slot.wide) {
                    if let value = Timestamp.parse(text) ?? Int64(text) { return value }
                }
            default:
                break
            }
            failed = true
            return nil
        }

        mutating func source() -> EventSource? {
            guard let slot = take(.src) else { return nil }
            guard slot.kind == .object else {
                failed = true
                return nil
            }
            var file: String?
            var line: UInt64?
            var text: String?
            var index = slot.start + 1
            // The object was checked by scan(): keys and values alternate, all plain.
            while index < slot.end {
                guard bytes[index] == UInt8(ascii: "\"") else {
                    index += 1
                    continue
                }
                let keyStart = index + 1
                var keyEnd = keyStart
                while bytes[keyEnd] != UInt8(ascii: "\"") { keyEnd += 1 }
                index = keyEnd + 1
                while bytes[index] != UInt8(ascii: ":") { index += 1 }
                index += 1
                while bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D { index += 1 }
                let key = bytes[keyStart]
                if key == UInt8(ascii: "l") {
                    let start = index
                    while index < slot.end, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
                    line = UInt64(self.text(start, index, wide: false)!)
                    if line == nil { failed = true }
                    continue
                }
                let start = index + 1
                var end = start
                var wide = false
                while bytes[end] != UInt8(ascii: "\"") {
                    if bytes[end] >= 0x80 { wide = true }
                    end += 1
                }
                index = end + 1
                guard let value = self.text(start, end, wide: wide) else {
                    failed = true
                    return nil
                }
                if key == UInt8(ascii: "f") { file = value } else { text = value }
            }
            guard let file, let line else {
                failed = true
                return nil
            }
            return EventSource(file: file, line: line, text: text)
        }

        // MARK: The event

        /// The event, built as `Event(json:)` builds it; nil when any field would make the
        /// general decoder reject the line or keep a field as an extra.
        mutating func event() -> Event? {
            guard let name = string(.op), let op = operation(name) else { return nil }
            let ts = timestamp()
            let id = identifier(.id)
            let host = identifier(.host) ?? "local"
            let actor = string(.actor)
            let result = string(.result)
            let errorOffset = aligned(.errorOffset)
            let note = string(.note)
            let source = source()
            var kernel: KernelProfile?
            var via: ConversionPath?
            switch op {
            case .vmCreate:
                if let text = string(.kernel) {
                    kernel = KernelProfile(rawValue: text)
                    if kernel == nil { failed = true }
                }
            case .convert:
                if let text = string(.via) {
                    via = ConversionPath(rawValue: text)
                    if via == nil { failed = true }
                }
            default:
                break
            }
            guard !failed, consumed == present else { return nil }
            return Event(
                op, ts: ts, id: id, host: host, actor: actor, result: result, errorOffset: errorOffset, note: note,
                source: source, kernel: kernel, via: via)
        }

        private mutating func operation(_ name: String) -> Operation? {
            guard let kind = OperationSpec.named(name)?.kind else { return nil }  // the general decoder names it
            switch kind {
            case .vmCreate:
                let vm = required(identifier(.vm))
                let type = string(.type) ?? "tdx"
                let tdxConnect = bool(.tdxConnect) ?? false
                return vm.map { .vmCreate(vm: $0, type: type, tdxConnect: tdxConnect) }
            case .vmDestroy:
                return required(identifier(.vm)).map { .vmDestroy(vm: $0) }
            case .vmBugged:
                let vm = required(identifier(.vm))
                let reason = string(.reason)
                return vm.map { .vmBugged(vm: $0, reason: reason) }
            case .gmemCreate:
                let folio = number(.folioSize) ?? 4096
                guard folio == 4096 || folio == 2_097_152 || folio == 1_073_741_824 else { return nil }
                let vm = required(identifier(.vm))
                let gmem = required(identifier(.gmem))
                let size = size(.size)
                let flags = flags() ?? []
                guard let vm, let gmem, let size else { return nil }
                return .gmemCreate(vm: vm, gmem: gmem, size: size, flags: flags, folioSize: folio)
            case .gmemClose:
                return required(identifier(.gmem)).map { .gmemClose(gmem: $0) }
            case .bind:
                let gpa = required(aligned(.gpa))
                let size = size(.size)
                let offset = required(aligned(.offset))
                end(gpa, size)
                end(offset, size)
                let vm = required(identifier(.vm))
                let gmem = required(identifier(.gmem))
                let slot = required(number(.slot))
                let hva = number(.hva)
                guard let gpa, let size, let offset, let vm, let gmem, let slot else { return nil }
                return .bind(vm: vm, gmem: gmem, slot: slot, gpa: gpa, size: size, offset: offset, hva: hva)
            case .unbind:
                let vm = required(identifier(.vm))
                let slot = required(number(.slot))
                guard let vm, let slot else { return nil }
                return .unbind(vm: vm, slot: slot)
            case .populate:
                let range = memoryRange()
                let pfn = number(.pfn)
                if let range, let pfn { frames(pfn, range.size / pageSize) }
                return range.map { .populate($0, pfn: pfn) }
            case .punchHole:
                return memoryRange().map { .punchHole($0) }
            case .map:
                return memoryRange().map { .map($0) }
            case .zap:
                let range = memoryRange()
                let reason = string(.reason)
                return range.map { .zap($0, reason: reason) }
            case .convertRequest:
                let gpa = required(aligned(.gpa))
                let size = size(.size)
                end(gpa, size)
                let vm = required(identifier(.vm))
                let to = shareability(.to)
                let implicit = bool(.implicit) ?? false
                guard let gpa, let size, let vm, let to else { return nil }
                return .convertRequest(vm: vm, gpa: gpa, size: size, to: to, implicit: implicit)
            case .convert:
                let range = memoryRange()
                let to = shareability(.to)
                guard let range, let to else { return nil }
                return .convert(range, to: to)
            case .accept:
                return memoryRange().map { .accept($0) }
            case .pin, .release:
                let range = memoryRange()
                let holder = holder()
                guard let range, let holder else { return nil }
                return kind == .pin ? .pin(range, holder: holder) : .release(range, holder: holder)
            case .hostAccess:
                return memoryRange().map { .hostAccess($0) }
            case .reuse:
                let npages = required(number(.npages))
                let pfn = required(number(.pfn))
                let owner = identifier(.owner)
                guard let npages, npages > 0, let pfn else { return nil }
                frames(pfn, npages)
                return .reuse(pfn: pfn, npages: npages, owner: owner)
            case .mce:
                return required(number(.pfn)).map { .mce(pfn: $0) }
            case .gap:
                let source = required(identifier(.source))
                let lost = number(.lost)
                return source.map { .gap(source: $0, lost: lost) }
            default:
                // Rare ops (`context`, `retract`, any op added later) take the general decoder,
                // which reads them from the vocabulary table alone.
                return nil
            }
        }
    }
}

extension EventField {
    /// The field named by the key bytes, or nil for a name outside the vocabulary: the fast
    /// decoder's matcher, held to `name` by a test.
    static func named(_ key: UnsafeBufferPointer<UInt8>) -> EventField? {
        func equals(_ name: StaticString) -> Bool {
            name.utf8CodeUnitCount == key.count
                && memcmp(name.utf8Start, key.baseAddress!, key.count) == 0
        }
        guard !key.isEmpty else { return nil }
        switch key[0] {
        case UInt8(ascii: "a"): return equals("actor") ? .actor : nil
        case UInt8(ascii: "b"): return equals("batch") ? .batch : nil
        case UInt8(ascii: "e"): return equals("error_offset") ? .errorOffset : nil
        case UInt8(ascii: "f"):
            return equals("flags") ? .flags : equals("folio_size") ? .folioSize : equals("first_seq") ? .firstSeq : nil
        case UInt8(ascii: "g"): return equals("gmem") ? .gmem : equals("gpa") ? .gpa : nil
        case UInt8(ascii: "h"): return equals("host") ? .host : equals("hva") ? .hva : equals("holder") ? .holder : nil
        case UInt8(ascii: "i"): return equals("id") ? .id : equals("implicit") ? .implicit : nil
        case UInt8(ascii: "n"): return equals("note") ? .note : equals("npages") ? .npages : nil
        case UInt8(ascii: "o"): return equals("op") ? .op : equals("offset") ? .offset : equals("owner") ? .owner : nil
        case UInt8(ascii: "p"): return equals("pfn") ? .pfn : nil
        case UInt8(ascii: "r"): return equals("result") ? .result : equals("reason") ? .reason : nil
        case UInt8(ascii: "s"):
            return equals("size") ? .size : equals("slot") ? .slot : equals("src") ? .src : equals("source") ? .source : nil
        case UInt8(ascii: "t"):
            return equals("ts") ? .ts : equals("type") ? .type : equals("to") ? .to : equals("tdx_connect") ? .tdxConnect
                : equals("tracepoint") ? .tracepoint : nil
        case UInt8(ascii: "k"): return equals("kernel") ? .kernel : nil
        case UInt8(ascii: "l"): return equals("lost") ? .lost : equals("last_seq") ? .lastSeq : equals("last_hash") ? .lastHash : nil
        case UInt8(ascii: "v"): return equals("vm") ? .vm : equals("via") ? .via : nil
        default: return nil
        }
    }
}
