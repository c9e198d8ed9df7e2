import Testing
@testable import GmemStore

/// The byte-level writers behind history text must print exactly what the `String` APIs print.
@Suite struct TextSinkTests {
    func values() -> [UInt64] {
        var random = SeededGenerator(seed: 41)
        var values: [UInt64] = [0, 1, 9, 10, 15, 16, 255, 256, 4095, 4096, UInt64(Int64.max), .max, .max - 1]
        for shift in 0..<64 as Range<UInt64> { values += [1 << shift, (1 << shift) - 1, (1 << shift) + 1] }
        for _ in 0..<2000 { values.append(random.next() >> (random.next() % 64)) }
        return values
    }

    @Test func hexAndDecimalMatchTheStandardLibrary() {
        for value in values() {
            var sink = TextSink()
            sink.hex(value)
            #expect(sink.text == "0x" + String(value, radix: 16))
            var decimal = TextSink()
            decimal.decimal(value)
            #expect(decimal.text == String(value))
            var signed = TextSink()
            signed.decimal(Int64(bitPattern: value))
            #expect(signed.text == String(Int64(bitPattern: value)))
        }
    }

    @Test func timestampsRoundTrip() {
        var random = SeededGenerator(seed: 43)
        var times: [Int64] = [0, 1, -1, 1_752_796_800_000_023_465, 951_782_400_000_000_000, .min + 1_000_000_000, .max]
        for _ in 0..<2000 { times.append(Int64(bitPattern: random.next()) / 2) }
        for time in times {
            let text = Timestamp.format(time)
            #expect(Timestamp.parse(text) == time, "\(time) → \(text)")
            #expect(text.hasSuffix("Z") && text.utf8.count >= 20)
        }
        #expect(Timestamp.format(1_752_796_800_000_023_465) == "2025-07-18T00:00:00.000023465Z")
        #expect(Timestamp.format(951_782_400_000_000_000) == "2000-02-29T00:00:00Z")
    }
}
