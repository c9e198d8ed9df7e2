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

    /// `modify` on a map of thousands of runs over many chunks (every page its own run at first):
    /// splits at both ends, merges inside a chunk and across chunk borders, chunks emptied,
    /// joined and split, against the page model and the map's invariants.
    @Test(arguments: [5, 6, 7])
    func modifyAcrossChunksMatchesThePageModel(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let count = 6000
        var model = (0..<count).map { Optional($0 % 2) }
        var map = RangeMap<Int>(sortedRuns: runs(of: model))
        #expect(map.invariantViolation() == nil)
        for step in 0..<1000 {
            let length: Int
            switch random.next() % 10 {
            case 0..<5: length = 1 + Int(random.next() % 4)
            case 5..<8: length = 1 + Int(random.next() % 300)
            default: length = 1 + Int(random.next() % 3000)
            }
            let lower = Int(random.next() % UInt64(count - length + 1))
            let range = UInt64(lower)..<UInt64(lower + length)
            switch random.next() % 4 {
            case 0:
                // Fragments again: every other page of the range flipped.
                for page in stride(from: lower, to: lower + length, by: 2) {
                    map.modify(UInt64(page)..<UInt64(page + 1)) { $0 ^= 1 }
                    model[page] = model[page].map { $0 ^ 1 }
                }
            case 1:
                // Merges: the whole range to one value.
                let value = Int(random.next() % 2)
                map.modify(range) { $0 = value }
                for page in lower..<(lower + length) { model[page] = model[page].map { _ in value } }
            default:
                map.modify(range) { $0 ^= 1 }
                for page in lower..<(lower + length) { model[page] = model[page].map { $0 ^ 1 } }
            }
            let same = map.runs == runs(of: model)
            #expect(same, "seed \(seed), step \(step): the runs differ from the page model after a modify of \(range)")
            if let violation = map.invariantViolation() {
                Issue.record("seed \(seed), step \(step): \(violation)")
                return
            }
            if !same { return }
        }
    }
}
