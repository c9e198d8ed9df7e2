import Testing
@testable import GmemStore

/// The range map against the obviously-right model, one value per page, through long random
/// sequences of updates: small ones inside a run (the fast path), ones across many runs and
/// chunks, removals that leave gaps, and updates that change nothing.
@Suite struct RangeMapUpdateTests {
    /// The merged runs of a page-by-page model.
    private func runs(of pages: [Int?]) -> [RangeMap<Int>.Run] {
        var result: [RangeMap<Int>.Run] = []
        for (page, value) in pages.enumerated() {
            guard let value else { continue }
            if let last = result.last, last.upper == UInt64(page), last.value == value {
                result[result.count - 1].upper += 1
            } else {
                result.append(RangeMap<Int>.Run(UInt64(page), UInt64(page) + 1, value))
            }
        }
        return result
    }

    @Test(arguments: [1, 2, 3, 4])
    func updatesMatchThePageModel(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let count = 3000
        var model = [Int?](repeating: 0, count: count)
        var map = RangeMap<Int>(0..<UInt64(count), 0)
        for step in 0..<4000 {
            let length: Int
            switch random.next() % 10 {
            case 0..<6: length = 1 + Int(random.next() % 3)
            case 6..<9: length = 1 + Int(random.next() % 64)
            default: length = 1 + Int(random.next() % 1500)
            }
            let lower = Int(random.next() % UInt64(count - length + 1))
            let range = UInt64(lower)..<UInt64(lower + length)
            switch random.next() % 8 {
            case 0:
                map.assign(range, nil)
                for page in lower..<(lower + length) { model[page] = nil }
            case 1:
                // Changes nothing: the fast path's and the window's no-op checks.
                map.update(range) { _, value in value }
            case 2:
                map.update(range) { _, value in value.map { $0 ^ 1 } }
                for page in lower..<(lower + length) { model[page] = model[page].map { $0 ^ 1 } }
            case 3:
                // In place, as the engine changes pages: values only where there are some.
                let bit = 1 << Int(random.next() % 2)
                map.modify(range) { $0 ^= bit }
                for page in lower..<(lower + length) { model[page] = model[page].map { $0 ^ bit } }
            default:
                let value = Int(random.next() % 3)
                map.assign(range, value)
                for page in lower..<(lower + length) { model[page] = value }
            }
            let expected = runs(of: model)
            let same = map.runs == expected
            #expect(same, "seed \(seed), step \(step): the runs differ from the page model after an update of \(range)")
            if !same { return }
            #expect(map.runCount == expected.count)
            if let violation = map.invariantViolation() {
                Issue.record("seed \(seed), step \(step): \(violation)")
                return
            }
        }
    }
}
