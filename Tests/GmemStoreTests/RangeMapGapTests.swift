import Testing
@testable import GmemStore

/// `assign` into gaps, as the frames map of a populate is filled: a sparse map of many chunks
/// where most assignments land between runs (inserted in place), some touch an equal neighbour
/// (merged) or overlap runs, and some remove; against the page model and the map's invariants.
@Suite struct RangeMapGapTests {
    @Test(arguments: [11, 12, 13])
    func assignsIntoGapsMatchThePageModel(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let count = 8000
        var model = [Int?](repeating: nil, count: count)
        var map = RangeMap<Int>()
        for step in 0..<2000 {
            let length = random.next() % 8 == 0 ? 1 + Int(random.next() % 40) : 1 + Int(random.next() % 3)
            let lower = Int(random.next() % UInt64(count - length + 1))
            let range = UInt64(lower)..<UInt64(lower + length)
            let value: Int? = random.next() % 10 == 0 ? nil : Int(random.next() % 3)
            map.assign(range, value)
            for page in lower..<(lower + length) { model[page] = value }
            var expected: [RangeMap<Int>.Run] = []
            for (page, value) in model.enumerated() {
                guard let value else { continue }
                if let last = expected.last, last.upper == UInt64(page), last.value == value {
                    expected[expected.count - 1].upper += 1
                } else {
                    expected.append(RangeMap<Int>.Run(UInt64(page), UInt64(page) + 1, value))
                }
            }
            let same = map.runs == expected
            #expect(same, "seed \(seed), step \(step): the runs differ from the page model after assigning \(String(describing: value)) to \(range)")
            if let violation = map.invariantViolation() {
                Issue.record("seed \(seed), step \(step): \(violation)")
                return
            }
            if !same { return }
        }
        // Enough runs for many chunks: insertions at a chunk's start, its end and into full ones.
        #expect(map.runCount > 4 * RangeMap<Int>.chunkCapacity)
    }
}
