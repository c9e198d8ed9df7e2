/// What is wrong with one event, before the file and line are known.
public struct EventDecodingError: Error, Equatable, Sendable {
    /// The field at fault, or nil when the line as a whole is wrong.
    public var field: String?
    public var message: String

    public init(field: String?, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String {
        if let field { return "field '\(field)': \(message)" }
        return message
    }
}

extension Event {
    /// The field names the vocabulary gives a meaning to (EVENTS.md §2), plus `src`.
    static let knownFields: Set<String> = Set(EventField.allCases.map(\.key))

    /// Decodes one line of JSON Lines input.
    public init(jsonLine text: String) throws(EventDecodingError) {
        var text = text
        if let event = text.withUTF8({ EventLineDecoder.decode($0) }) {
            self = event
            return
        }
        let value: JSONValue
        do throws(JSONSyntaxError) {
            value = try JSONParser.parse(text)
        } catch {
            throw EventDecodingError(field: nil, "not valid JSON at column \(error.column): \(error.message)")
        }
        try self.init(json: value)
    }

    /// Decodes an event from a JSON object in the EVENTS.md §2 vocabulary.
    public init(json: JSONValue) throws(EventDecodingError) {
        guard case .object(let members) = json else {
            throw EventDecodingError(field: nil, "expected a JSON object, found \(json.kindName)")
        }
        var fields = FieldReader()
        for member in members {
            if fields.values[member.key] != nil {
                throw EventDecodingError(field: member.key, "given twice")
            }
            fields.values[member.key] = member.value
        }
        guard let opName = try fields.string("op") else {
            throw EventDecodingError(field: "op", "missing")
        }
        let op = try Operation(name: opName, fields: &fields)
        var kernel: KernelProfile?
        var via: ConversionPath?
        switch op {
        case .vmCreate: kernel = try fields.kernel()
        case .convert: via = try fields.via()
        default: break
        }
        self.init(
            op,
            ts: try fields.timestamp("ts"),
            id: try fields.identifier("id"),
            host: try fields.identifier("host") ?? "local",
            actor: try fields.string("actor"),
            result: try fields.string("result"),
            errorOffset: try fields.aligned("error_offset"),
            note: try fields.string("note"),
            source: try fields.source("src"),
            extra: members.filter { !Self.knownFields.contains($0.key) },
            kernel: kernel, via: via
        )
        for key in fields.values.keys where Self.knownFields.contains(key) && !fields.used.contains(key) {
            // A vocabulary field that this op does not take: keep it rather than lose it.
            extra.append(JSONMember(key, fields.values[key]!))
        }
    }

    /// The event in gmem's canonical JSON: the form that is stored, hashed and exported.
    public var canonicalJSON: String {
        if extra.isEmpty { return CanonicalEventWriter.string(self) }
        var members: [JSONMember] = [JSONMember("op", .string(op.name))]
        func put(_ key: String, _ value: JSONValue?) {
            if let value { members.append(JSONMember(key, value)) }
        }
        func number(_ value: UInt64?) -> JSONValue? { value.map { .number(String($0)) } }
        func string(_ value: String?) -> JSONValue? { value.map { .string($0) } }
        op.forEachMember { field, value in
            let json: JSONValue
            switch value {
            case .text(let text): json = .string(text)
            case .number(let value): json = .number(String(value))
            case .flag(let flag): json = .bool(flag)
            case .shareability(let to): json = .string(to.rawValue)
            case .holder(let holder): json = .string(holder.rawValue)
            case .names(let names): json = .array(names.map { .string($0) })
            case .digest(let bytes): json = .string(HashChain.hex(bytes))
            case .range: preconditionFailure("forEachMember writes a range as its three fields")
            }
            put(field.key, json)
        }
        switch op {
        case .vmCreate: put("kernel", string(kernel?.rawValue))
        case .convert: put("via", string(via?.rawValue))
        default: break
        }
        put("ts", ts.map { .number(String($0)) })
        put("id", string(id))
        put("host", .string(host))
        put("actor", .string(actor))
        put("result", string(result))
        put("error_offset", number(errorOffset))
        put("note", string(note))
        if let source {
            var src: [JSONMember] = [JSONMember("file", .string(source.file)), JSONMember("line", .number(String(source.line)))]
            if let text = source.text { src.append(JSONMember("text", .string(text))) }
            put("src", .object(src))
        }
        members.append(contentsOf: extra)
        return JSONWriter.string(.object(members))
    }
}

/// Parses a number as a user types it on a command line: decimal or `0x` hex.
public func parseNumber(_ text: String) -> UInt64? {
    try? FieldReader.parseUnsigned(text, field: "", hexAllowed: true)
}

/// Parses a byte count as a user types it: a number (`parseNumber`) with an optional binary
/// suffix K, M, G or T (`1T` is 2^40). Nil when it is not one or does not fit in 64 bits.
public func parseByteCount(_ text: String) -> UInt64? {
    let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
    // K, M, G and T are not hex digits, so a suffix never reads as part of a 0x number.
    guard let last = text.last?.uppercased().first, let unit = units[last] else {
        return parseNumber(text)
    }
    guard let number = parseNumber(String(text.dropLast())) else { return nil }
    let (value, overflow) = number.multipliedReportingOverflow(by: unit)
    return overflow ? nil : value
}

/// Reads typed fields out of a decoded object and remembers which ones were read.
struct FieldReader {
    var values: [String: JSONValue] = [:]
    var used: Set<String> = []

    mutating func take(_ key: String) -> JSONValue? {
        guard let value = values[key] else { return nil }
        used.insert(key)
        if case .null = value { return nil }
        return value
    }

    func required<T>(_ key: String, _ value: T?) throws(EventDecodingError) -> T {
        guard let value else { throw EventDecodingError(field: key, "missing") }
        return value
    }

    mutating func string(_ key: String) throws(EventDecodingError) -> String? {
        guard let value = take(key) else { return nil }
        guard case .string(let text) = value else {
            throw EventDecodingError(field: key, "expected a string, found \(value.kindName)")
        }
        return text
    }

    /// Identifiers are strings; a JSON integer is accepted and kept as its decimal text.
    mutating func identifier(_ key: String) throws(EventDecodingError) -> String? {
        guard let value = take(key) else { return nil }
        switch value {
        case .string(let text):
            guard !text.isEmpty else { throw EventDecodingError(field: key, "must not be empty") }
            try Self.checkNoControlCharacters(text, field: key)
            return text
        case .number(let text) where !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }):
            return text
        default:
            throw EventDecodingError(field: key, "expected a string, found \(value.kindName)")
        }
    }

    /// Ids (`vm`, `gmem`, `host`, `id`, `owner`, `tracepoint`, `holder`) name things in
    /// indexes, queries and text output: a control character (U+0000–U+001F, U+007F) in one
    /// would cut it at a NUL or forge a line of output, so it is refused.
    static func checkNoControlCharacters(_ text: String, field: String) throws(EventDecodingError) {
        guard let bad = text.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return }
        let code = String(bad.value, radix: 16, uppercase: true)
        throw EventDecodingError(
            field: field, "must not contain a control character (found U+\(String(repeating: "0", count: 4 - code.count))\(code))")
    }

    mutating func requiredIdentifier(_ key: String) throws(EventDecodingError) -> String {
        try required(key, identifier(key))
    }

    mutating func bool(_ key: String) throws(EventDecodingError) -> Bool? {
        guard let value = take(key) else { return nil }
        guard case .bool(let flag) = value else {
            throw EventDecodingError(field: key, "expected true or false, found \(value.kindName)")
        }
        return flag
    }

    /// An unsigned 64-bit number: a JSON integer, a `"0x…"` hex string or a decimal string.
    mutating func number(_ key: String) throws(EventDecodingError) -> UInt64? {
        guard let value = take(key) else { return nil }
        switch value {
        case .number(let text):
            return try Self.parseUnsigned(text, field: key, hexAllowed: false)
        case .string(let text):
            return try Self.parseUnsigned(text, field: key, hexAllowed: true)
        default:
            throw EventDecodingError(field: key, "expected a number, found \(value.kindName)")
        }
    }

    static func parseUnsigned(_ text: String, field: String, hexAllowed: Bool) throws(EventDecodingError) -> UInt64 {
        if text.hasPrefix("-") {
            throw EventDecodingError(field: field, "must not be negative (\(text))")
        }
        var digits = Substring(text)
        var radix: UInt64 = 10
        if hexAllowed, digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            radix = 16
        }
        guard !digits.isEmpty else { throw EventDecodingError(field: field, "'\(text)' is not a number") }
        switch Self.digits(digits.utf8, radix: radix) {
        case .success(let value): return value
        case .failure(.notADigit): throw EventDecodingError(field: field, "'\(text)' is not a whole \(radix == 16 ? "hex " : "")number")
        case .failure(.overflow): throw EventDecodingError(field: field, "'\(text)' does not fit in 64 bits")
        }
    }

    /// Why ASCII digits are not a 64-bit number.
    enum DigitsProblem: Error {
        case notADigit
        case overflow
    }

    /// The value of ASCII `digits` in `radix` (10, or 16 with either case of a–f), for both
    /// event decoders.
    static func digits<Digits: Sequence<UInt8>>(_ digits: Digits, radix: UInt64) -> Result<UInt64, DigitsProblem> {
        var value: UInt64 = 0
        for character in digits {
            let digit: UInt64
            switch character {
            case 0x30...0x39: digit = UInt64(character - 0x30)
            case 0x61...0x66 where radix == 16: digit = UInt64(character - 0x61 + 10)
            case 0x41...0x46 where radix == 16: digit = UInt64(character - 0x41 + 10)
            default: return .failure(.notADigit)
            }
            let (times, overflow1) = value.multipliedReportingOverflow(by: radix)
            let (sum, overflow2) = times.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return .failure(.overflow) }
            value = sum
        }
        return .success(value)
    }

    /// A number that must be a multiple of the 4 KiB page size.
    mutating func aligned(_ key: String) throws(EventDecodingError) -> UInt64? {
        guard let value = try number(key) else { return nil }
        guard value % pageSize == 0 else {
            throw EventDecodingError(field: key, "\(hex(value)) is not a multiple of 4096")
        }
        return value
    }

    mutating func requiredSize(_ key: String) throws(EventDecodingError) -> UInt64 {
        let size = try required(key, aligned(key))
        guard size > 0 else { throw EventDecodingError(field: key, "must be greater than zero") }
        return size
    }

    func checkEnd(_ key: String, _ start: UInt64, _ size: UInt64) throws(EventDecodingError) {
        if start.addingReportingOverflow(size).overflow {
            throw EventDecodingError(field: key, "the range \(hex(start)) + \(hex(size)) wraps past 2^64")
        }
    }

    /// Frames `first` … `first + count − 1` must exist: the last frame is 2^64 − 1.
    func checkFrames(_ key: String, _ first: UInt64, _ count: UInt64) throws(EventDecodingError) {
        if count > 0, first.addingReportingOverflow(count - 1).overflow {
            throw EventDecodingError(field: key, "\(count) frames from pfn \(hex(first)) run past the last frame, 0xffffffffffffffff")
        }
    }

    mutating func memoryRange() throws(EventDecodingError) -> MemoryRange {
        let size = try requiredSize("size")
        if values["gmem"] != nil || values["offset"] != nil {
            let gmem = try requiredIdentifier("gmem")
            let offset = try required("offset", aligned("offset"))
            try checkEnd("offset", offset, size)
            return .file(gmem: gmem, offset: offset, size: size)
        }
        if values["vm"] != nil || values["gpa"] != nil {
            let vm = try requiredIdentifier("vm")
            let gpa = try required("gpa", aligned("gpa"))
            try checkEnd("gpa", gpa, size)
            return .guest(vm: vm, gpa: gpa, size: size)
        }
        throw EventDecodingError(field: nil, "a range needs gmem + offset + size, or vm + gpa + size")
    }

    mutating func shareability(_ key: String) throws(EventDecodingError) -> Shareability {
        let text = try required(key, string(key))
        guard let value = Shareability(rawValue: text) else {
            throw EventDecodingError(field: key, "must be 'shared' or 'private', not '\(text)'")
        }
        return value
    }

    /// `kernel` of a `vm_create`: a profile name, or absent.
    mutating func kernel() throws(EventDecodingError) -> KernelProfile? {
        guard let text = try string("kernel") else { return nil }
        guard let profile = KernelProfile(rawValue: text) else {
            throw EventDecodingError(field: "kernel", "must be 'rfc-2025' or 'upstream-2026', not '\(text)'")
        }
        return profile
    }

    /// `via` of a `convert`: `gmem` or `vm`, or absent.
    mutating func via() throws(EventDecodingError) -> ConversionPath? {
        guard let text = try string("via") else { return nil }
        guard let path = ConversionPath(rawValue: text) else {
            throw EventDecodingError(field: "via", "must be 'gmem' or 'vm', not '\(text)'")
        }
        return path
    }

    mutating func holder() throws(EventDecodingError) -> Holder {
        let text = try required("holder", string("holder"))
        try Self.checkNoControlCharacters(text, field: "holder")
        guard let holder = Holder(rawValue: text) else {
            throw EventDecodingError(field: "holder", "must be td, iommu, vfio or gup, not '\(text)'")
        }
        return holder
    }

    mutating func stringList(_ key: String) throws(EventDecodingError) -> [String]? {
        guard let value = take(key) else { return nil }
        guard case .array(let elements) = value else {
            throw EventDecodingError(field: key, "expected a list of strings, found \(value.kindName)")
        }
        var names: [String] = []
        for element in elements {
            guard case .string(let name) = element else {
                throw EventDecodingError(field: key, "expected a list of strings, found \(element.kindName) in it")
            }
            names.append(name)
        }
        return names
    }

    mutating func timestamp(_ key: String) throws(EventDecodingError) -> Int64? {
        guard let value = take(key) else { return nil }
        switch value {
        case .number(let text):
            guard let nanos = Int64(text) else {
                throw EventDecodingError(field: key, "'\(text)' is not whole nanoseconds that fit in 64 bits")
            }
            return nanos
        case .string(let text):
            if let nanos = Timestamp.parse(text) { return nanos }
            if let nanos = Int64(text) { return nanos }
            throw EventDecodingError(field: key, "'\(text)' is not an RFC 3339 time or integer nanoseconds")
        default:
            throw EventDecodingError(field: key, "expected an RFC 3339 string or integer nanoseconds, found \(value.kindName)")
        }
    }

    mutating func source(_ key: String) throws(EventDecodingError) -> EventSource? {
        guard let value = take(key) else { return nil }
        guard case .object(let members) = value,
            let file = members.first(where: { $0.key == "file" }), case .string(let name) = file.value,
            let line = members.first(where: { $0.key == "line" }), case .number(let lineText) = line.value,
            let number = UInt64(lineText)
        else {
            throw EventDecodingError(field: key, "expected {\"file\": string, \"line\": number, \"text\"?: string}")
        }
        var text: String?
        if let member = members.first(where: { $0.key == "text" }) {
            guard case .string(let value) = member.value else {
                throw EventDecodingError(field: key, "'text' must be a string")
            }
            text = value
        }
        return EventSource(file: name, line: number, text: text)
    }
}
