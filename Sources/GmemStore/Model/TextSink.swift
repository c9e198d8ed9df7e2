/// Output text built as UTF-8 bytes: a page's history prints thousands of short fields, and
/// building each as its own `String` (interpolation, `joined`, `String(_:radix:)`) costs more
/// than the history's replay.
///
/// Text from the evidence (ids, names, notes, file names, reasons) goes in through
/// `write(escaping:)`, which shows every control character as a visible escape: a newline or
/// an ANSI sequence in an id must not forge a row of a table or recolour a terminal. Only
/// literals (`StaticString`) are written as they are.
struct TextSink {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Appends `text` with its control characters escaped (`TextSink.escape`).
    mutating func write(escaping text: String) {
        var text = text
        text.withUTF8 { utf8 in
            if utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
                bytes.append(contentsOf: utf8)
            } else {
                Self.escape(utf8, into: &bytes)
            }
        }
    }

    /// Writes `utf8` with every character a terminal would act on rather than show as a
    /// visible escape: `\n`, `\r`, `\t`, other C0 controls and DEL as `\xNN`, C1 controls
    /// (U+0080–U+009F, where U+009B is a one-character CSI), the bidirectional overrides and
    /// isolates (U+200E/F, U+202A–E, U+2066–9) and the line and paragraph separators
    /// (U+2028/9) as `\u{NNNN}`. A backslash itself stays as it is, so escaping twice changes
    /// nothing; the exact text is in the JSON outputs.
    static func escape(_ utf8: UnsafeBufferPointer<UInt8>, into bytes: inout [UInt8]) {
        var index = 0
        func escaped(_ value: UInt32, hexDigits: Int, unicode: Bool) {
            bytes.append(UInt8(ascii: "\\"))
            bytes.append(UInt8(ascii: unicode ? "u" : "x"))
            if unicode { bytes.append(UInt8(ascii: "{")) }
            bytes.appendDigits(UInt64(value), radix: 16, minimumWidth: hexDigits)
            if unicode { bytes.append(UInt8(ascii: "}")) }
        }
        while index < utf8.count {
            let byte = utf8[index]
            switch byte {
            case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n")); index += 1
            case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r")); index += 1
            case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t")); index += 1
            case 0x00..<0x20, 0x7F: escaped(UInt32(byte), hexDigits: 2, unicode: false); index += 1
            case 0xC2 where index + 1 < utf8.count && (0x80...0x9F).contains(utf8[index + 1]):
                escaped(UInt32(utf8[index + 1]), hexDigits: 4, unicode: true)
                index += 2
            case 0xE2 where index + 2 < utf8.count:
                // U+2000–U+2FFF: E2 8x xx. The ones that reorder or break lines are escaped.
                let scalar = (UInt32(byte & 0x0F) << 12) | (UInt32(utf8[index + 1] & 0x3F) << 6) | UInt32(utf8[index + 2] & 0x3F)
                switch scalar {
                case 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069:
                    escaped(scalar, hexDigits: 4, unicode: true)
                default:
                    bytes.append(contentsOf: utf8[index..<index + 3])
                }
                index += 3
            default:
                bytes.append(byte)
                index += 1
            }
        }
    }

    /// `text` as `write(escaping:)` writes it.
    static func escaped(_ text: String) -> String {
        var sink = TextSink(capacity: text.utf8.count + 8)
        sink.write(escaping: text)
        return sink.text
    }

    mutating func write(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `value` in decimal.
    mutating func decimal(_ value: UInt64) {
        digits(value, radix: 10, minimumWidth: 1)
    }

    mutating func decimal(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        decimal(value.magnitude)
    }

    /// `value` as `0x` and lowercase hex digits, as `hex(_:)` writes it.
    mutating func hex(_ value: UInt64) {
        bytes.append(UInt8(ascii: "0"))
        bytes.append(UInt8(ascii: "x"))
        var shift = max(0, (UInt64.bitWidth - value.leadingZeroBitCount + 3) / 4 * 4 - 4)
        while true {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt64(shift)) & 0x0F
            bytes.append(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
            if shift == 0 { break }
            shift -= 4
        }
    }

    /// `value` with at least `minimumWidth` digits, zero-padded.
    mutating func digits(_ value: UInt64, radix: UInt64, minimumWidth: Int) {
        bytes.appendDigits(value, radix: radix, minimumWidth: minimumWidth)
    }

    /// `nanoseconds` since the epoch as RFC 3339 UTC, as `Timestamp.format` writes it.
    mutating func timestamp(_ nanoseconds: Int64) {
        let time = Timestamp.civil(nanoseconds)
        if time.year < 0 { bytes.append(UInt8(ascii: "-")) }
        digits(time.year.magnitude, radix: 10, minimumWidth: 4)
        bytes.append(UInt8(ascii: "-"))
        digits(UInt64(time.month), radix: 10, minimumWidth: 2)
        bytes.append(UInt8(ascii: "-"))
        digits(UInt64(time.day), radix: 10, minimumWidth: 2)
        bytes.append(UInt8(ascii: "T"))
        digits(UInt64(time.secondOfDay / 3600), radix: 10, minimumWidth: 2)
        bytes.append(UInt8(ascii: ":"))
        digits(UInt64(time.secondOfDay / 60 % 60), radix: 10, minimumWidth: 2)
        bytes.append(UInt8(ascii: ":"))
        digits(UInt64(time.secondOfDay % 60), radix: 10, minimumWidth: 2)
        if time.nanos != 0 {
            bytes.append(UInt8(ascii: "."))
            digits(UInt64(time.nanos), radix: 10, minimumWidth: 9)
        }
        bytes.append(UInt8(ascii: "Z"))
    }
}

/// `text` with its control characters shown as visible escapes (`\n`, `\x1b`, `\u{202e}`), as
/// every text output writes ids, names, notes, file names and reasons (`TextSink.escape`).
public func terminalSafe(_ text: String) -> String {
    // Most values are plain ASCII: returned as they are, without building a copy.
    if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
    return TextSink.escaped(text)
}

/// `value` as `0x` and lowercase hex digits, the way gmem prints addresses and sizes.
public func hex(_ value: UInt64) -> String {
    var sink = TextSink(capacity: 18)
    sink.hex(value)
    return sink.text
}

extension [UInt8] {
    /// Appends `value` in `radix` (at most 16) with at least `minimumWidth` digits, zero-padded.
    mutating func appendDigits(_ value: UInt64, radix: UInt64 = 10, minimumWidth: Int = 1) {
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: any UInt64 in base 10
        Swift.withUnsafeMutableBytes(of: &buffer) { scratch in
            var value = value
            var end = scratch.count
            repeat {
                let digit = UInt8(truncatingIfNeeded: value % radix)
                end -= 1
                scratch[end] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                value /= radix
            } while value != 0
            while scratch.count - end < minimumWidth {
                end -= 1
                scratch[end] = UInt8(ascii: "0")
            }
            append(contentsOf: scratch[end...])
        }
    }
}
