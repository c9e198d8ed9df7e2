import Testing
@testable import GmemStore

/// The range map's search for the run of a page (over the chunks' first pages, then the chunk's
/// runs) against a page-by-page model: every page of maps of many chunks, with gaps, runs of
/// very unequal lengths, and page numbers near 2^64. It held a first probe placed in proportion
/// between a chunk's ends (tried in round 6, not kept; a planted off-by-one in it failed here).
@Suite struct RangeMapSearchTests {
    /// A map of about `runCount` runs with gaps, built by assignments, and its page model.
    static func randomMap(seed: UInt64, runCount: Int, pages: Int) -> (RangeMap<Int>, [Int?]) {
        var random = SeededGenerator(seed: seed)
        var model = [Int?](repeating: nil, count: pages)
        var map = RangeMap<Int>()
        for _ in 0..<runCount {
            // Mostly short runs, now and then a long one, so a chunk's runs are unevenly spread.
            let length = random.next() % 10 == 0 ? 1 + Int(random.next() % 400) : 1 + Int(random.next() % 6)
            let lower = Int(random.next() % UInt64(pages - length))
            let value: Int? = random.next() % 5 == 0 ? nil : Int(random.next() % 7)
            map.assign(UInt64(lower)..<UInt64(lower + length), value)
            for page in lower..<(lower + length) { model[page] = value }
        }
        return (map, model)
    }

    @Test("every page's value, and the runs of random ranges, equal the page model's", arguments: [21, 22, 23, 24])
    func everyPage(seed: UInt64) {
        let pages = 20_000
        let (map, model) = Self.randomMap(seed: seed, runCount: 6000, pages: pages)
        #expect(map.invariantViolation() == nil)
        #expect(map.runCount > 8 * RangeMap<Int>.chunkCapacity)
        var wrong = 0
        for page in 0..<(pages + 10) where map[UInt64(page)] != (page < pages ? model[page] : nil) {
            wrong += 1
        }
        #expect(wrong == 0, "\(wrong) pages give another value than the model")
        var random = SeededGenerator(seed: seed &+ 100)
        for _ in 0..<2000 {
            let lower = Int(random.next() % UInt64(pages))
            let upper = min(pages, lower + 1 + Int(random.next() % 50))
            var expected: [RangeMap<Int>.Run] = []
            for page in lower..<upper {
                guard let value = model[page] else { continue }
                if let last = expected.last, last.upper == UInt64(page), last.value == value {
                    expected[expected.count - 1].upper += 1
                } else {
                    expected.append(RangeMap<Int>.Run(UInt64(page), UInt64(page) + 1, value))
                }
            }
            let runs = map.runs(in: UInt64(lower)..<UInt64(upper))
            #expect(runs == expected, "runs of \(lower)..<\(upper)")
            if runs != expected { return }
        }
    }

    /// The searches step a fixed number of times (six over the chunks after a loop down to 64,
    /// seven in a chunk of at most 128 runs): maps of 1 to 8,400 runs, chunks full to 128 runs or
    /// left at 64, every run's pages and the gaps beside them.
    @Test("every chunk count and chunk fill: each run's pages found, each gap empty", arguments: [1, 2, 3, 63, 64, 65, 127, 128, 129, 4095, 4096, 4097, 8400])
    func chunkCounts(runs: Int) {
        // Runs of two pages at 4i, then (growing each chunk towards 128 runs) one at 4i + 2.
        var map = RangeMap<Int>(sortedRuns: (0..<runs).map { RangeMap<Int>.Run(UInt64(4 * $0), UInt64(4 * $0 + 2), $0 % 3) })
        for round in 0..<2 {
            var wrong = 0
            for index in 0..<runs {
                let page = UInt64(4 * index)
                if map[page] != index % 3 || map[page + 1] != index % 3 || map[page + 3] != nil { wrong += 1 }
                if map[page + 2] != (round == 0 ? nil : 7) { wrong += 1 }
            }
            #expect(wrong == 0, "\(wrong) runs or gaps found wrongly among \(map.runCount) runs")
            #expect(map[UInt64(4 * runs)] == nil && map[UInt64.max] == nil)
            #expect(map.invariantViolation() == nil)
            for index in 0..<runs { map.assign(UInt64(4 * index + 2)..<UInt64(4 * index + 3), 7) }
        }
    }

    @Test("page numbers near 2^64: found, and their gaps empty")
    func farPages() {
        var map = RangeMap<Int>()
        let far = UInt64.max - 10_000
        for index in 0..<UInt64(600) {
            map.assign((index * 4)..<(index * 4 + 2), Int(index % 3))
            map.assign((far + index * 8)..<(far + index * 8 + 3), Int(index % 5))
        }
        #expect(map.invariantViolation() == nil)
        for index in 0..<UInt64(600) {
            #expect(map[index * 4 + 1] == Int(index % 3) && map[index * 4 + 2] == nil)
            #expect(map[far + index * 8 + 2] == Int(index % 5) && map[far + index * 8 + 3] == nil)
        }
        #expect(map[far - 1] == nil && map[UInt64.max - 1] == nil)
    }
}
