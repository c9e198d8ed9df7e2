import Testing

@testable import GmemStore

/// The finding table's JSON columns (`Store.rangesJSON`, `Store.relatedJSON`) are the bytes
/// the JSON writer gives for the same values, and read back to the same ranges.
@Suite struct FindingColumnsTests {
    /// Names with and without characters that need an escape (quote, backslash, control
    /// characters, non-ASCII), file and guest-physical ranges mixed, empty lists: every case
    /// equals `JSONWriter`'s text, and reads back to the same ranges.
    @Test func columnsAreTheWritersBytes() throws {
        let names = ["g1", "vm0", "", "gmem \"quoted\"", "back\\slash", "tab\there", "line\nbreak", "\u{1}", "é-файл", "g/1 x"]
        var random = SplitMix(seed: 7)
        for _ in 0..<2_000 {
            var ranges: [FindingRange] = []
            for _ in 0..<Int(random.next() % 4) {
                let name = names[Int(random.next() % UInt64(names.count))]
                let offset = random.next() >> UInt64(random.next() % 64)
                let size = random.next() >> UInt64(random.next() % 64)
                ranges.append(random.next() % 3 == 0 ? FindingRange(vm: name, gpa: offset, size: size) : FindingRange(gmem: name, offset: offset, size: size))
            }
            let expected = JSONWriter.string(.array(ranges.map(\.json)), sortsKeys: false)
            #expect(Store.rangesJSON(ranges) == expected)
            guard case .array(let values) = try JSONParser.parse(Store.rangesJSON(ranges)) else {
                Issue.record("not an array")
                return
            }
            #expect(values.compactMap(FindingRange.init(json:)) == ranges)
            let related = (0..<Int(random.next() % 5)).map { _ in Int64(bitPattern: random.next() >> UInt64(random.next() % 64)) }
            #expect(Store.relatedJSON(related) == JSONWriter.string(.array(related.map { .number(String($0)) })))
        }
    }
}

/// A small seeded generator (SplitMix64) for the cases above.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
