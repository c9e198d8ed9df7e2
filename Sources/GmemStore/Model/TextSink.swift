/// Output text built as UTF-8 bytes: a page's history prints thousands of short fields, and
/// building each as its own `String` (interpolation, `joined`, `String(_:radix:)`) costs more
/// than the history's replay.
struct TextSink {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
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
