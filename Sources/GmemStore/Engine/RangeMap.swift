/// A map from page numbers to values, kept as sorted, disjoint runs of equal values, with
/// adjacent equal runs always merged so that equal maps have equal runs. Pages not covered by
/// a run have no value. This is gmem's analogue of the maple tree that guest_memfd keys by page
/// index (`kvm_gmem_shareability_store` merges adjacent equal ranges the same way).
///
/// Runs are stored in chunks of at most `2 × chunkCapacity`, found by binary search over the
/// chunks' first pages, so an update touching `k` runs costs O(log n + k + chunkCapacity)
/// whatever the size of the range: converting a 1 GiB folio is one operation, not 262144.
public struct RangeMap<Value: Equatable>: Equatable {
    /// One run: pages `lower..<upper` all have `value`.
    public struct Run: Equatable {
        public var lower: UInt64
        public var upper: UInt64
        public var value: Value

        public init(_ lower: UInt64, _ upper: UInt64, _ value: Value) {
            self.lower = lower
            self.upper = upper
            self.value = value
        }

        public var range: Range<UInt64> { lower..<upper }
    }

    static var chunkCapacity: Int { 64 }

    private var chunks: [[Run]] = []
    /// `chunks[i].first!.lower`, kept beside the chunks for the binary search.
    private var chunkLowers: [UInt64] = []

    public init() {}

    /// A map that gives `value` to every page of `range`.
    public init(_ range: Range<UInt64>, _ value: Value) {
        if !range.isEmpty {
            chunks = [[Run(range.lowerBound, range.upperBound, value)]]
            chunkLowers = [range.lowerBound]
        }
    }

    /// A map holding `runs`, which must be sorted, disjoint and merged.
    /// - Complexity: O(n).
    public init(sortedRuns runs: [Run]) {
        var index = 0
        while index < runs.count {
            let take = min(Self.chunkCapacity, runs.count - index)
            chunks.append(Array(runs[index..<(index + take)]))
            chunkLowers.append(runs[index].lower)
            index += take
        }
    }

    /// The number of runs.
    /// - Complexity: O(n / chunkCapacity).
    public var runCount: Int { chunks.reduce(0) { $0 + $1.count } }

    public var isEmpty: Bool { chunks.isEmpty }

    /// Every run, in page order.
    public var runs: [Run] { chunks.flatMap { $0 } }

    public static func == (lhs: RangeMap, rhs: RangeMap) -> Bool {
        lhs.runs == rhs.runs
    }

    /// The value of one page.
    /// - Complexity: O(log n).
    public subscript(page: UInt64) -> Value? {
        let position = firstPosition(endingAfter: page)
        guard position.chunk < chunks.count else { return nil }
        let run = chunks[position.chunk][position.index]
        return run.lower <= page ? run.value : nil
    }

    /// Calls `body` for each run that overlaps `range`, clipped to it, in page order; stops
    /// early when `body` returns false. Pages with no value are skipped.
    /// - Complexity: O(log n + k) for k runs visited.
    public func forEachRun(in range: Range<UInt64>, _ body: (Run) -> Bool) {
        guard !range.isEmpty else { return }
        var position = firstPosition(endingAfter: range.lowerBound)
        while position.chunk < chunks.count {
            let run = chunks[position.chunk][position.index]
            if run.lower >= range.upperBound { return }
            let clipped = Run(max(run.lower, range.lowerBound), min(run.upper, range.upperBound), run.value)
            if !body(clipped) { return }
            position = next(position)
        }
    }

    /// The runs overlapping `range`, clipped to it.
    public func runs(in range: Range<UInt64>) -> [Run] {
        var result: [Run] = []
        forEachRun(in: range) { result.append($0); return true }
        return result
    }

    /// The first page in `range` whose value satisfies `predicate`.
    public func firstPage(in range: Range<UInt64>, where predicate: (Value) -> Bool) -> UInt64? {
        var found: UInt64?
        forEachRun(in: range) { run in
            if predicate(run.value) { found = run.lower; return false }
            return true
        }
        return found
    }

    /// The sub-ranges of `range` whose values satisfy `predicate`, merged.
    public func ranges(in range: Range<UInt64>, where predicate: (Value) -> Bool) -> [Range<UInt64>] {
        var result: [Range<UInt64>] = []
        forEachRun(in: range) { run in
            if predicate(run.value) {
                if let last = result.last, last.upperBound == run.lower {
                    result[result.count - 1] = last.lowerBound..<run.upper
                } else {
                    result.append(run.range)
                }
            }
            return true
        }
        return result
    }

    /// Replaces the value of every page in `range` by `transform(old value)`, where the old
    /// value is nil for pages without one and a nil result removes the value; then merges
    /// equal neighbours. `transform` is called once per run (and gap) overlapping `range`,
    /// with the page range it applies to.
    /// - Complexity: O(log n + k + chunkCapacity) for k runs overlapping `range`.
    public mutating func update(_ range: Range<UInt64>, _ transform: (Range<UInt64>, Value?) -> Value?) {
        guard !range.isEmpty else { return }
        let lower = range.lowerBound
        let upper = range.upperBound
        // The window of runs to rewrite: those overlapping the range and, for merging, the
        // neighbours that touch it.
        var windowStart = firstPosition(endingAfter: lower)
        if windowStart.chunk < chunks.count {
            let run = chunks[windowStart.chunk][windowStart.index]
            if run.lower <= lower, upper <= run.upper {
                updateInsideRun(run, at: windowStart, lower, upper, transform(range, run.value))
                return
            }
        }
        if let previous = previous(windowStart), chunks[previous.chunk][previous.index].upper == lower {
            windowStart = previous
        }
        var windowEnd = windowStart
        var windowCount = 0
        while windowEnd.chunk < chunks.count, chunks[windowEnd.chunk][windowEnd.index].lower < upper {
            windowEnd = next(windowEnd)
            windowCount += 1
        }
        if windowEnd.chunk < chunks.count, chunks[windowEnd.chunk][windowEnd.index].lower == upper {
            windowEnd = next(windowEnd)
            windowCount += 1
        }

        var replacement: [Run] = []
        replacement.reserveCapacity(windowCount + 2)
        func push(_ lower: UInt64, _ upper: UInt64, _ value: Value?) {
            guard lower < upper, let value else { return }
            if let last = replacement.last, last.upper == lower, last.value == value {
                replacement[replacement.count - 1].upper = upper
            } else {
                replacement.append(Run(lower, upper, value))
            }
        }
        var cursor = lower
        var position = windowStart
        while position != windowEnd {
            let run = chunks[position.chunk][position.index]
            position = next(position)
            if run.upper <= lower {
                push(run.lower, run.upper, run.value)
                continue
            }
            if run.lower >= upper {
                if cursor < upper { push(cursor, upper, transform(cursor..<upper, nil)); cursor = upper }
                push(run.lower, run.upper, run.value)
                continue
            }
            if run.lower < lower { push(run.lower, lower, run.value) }
            if cursor < run.lower { push(cursor, run.lower, transform(cursor..<run.lower, nil)) }
            let overlap = max(run.lower, lower)..<min(run.upper, upper)
            push(overlap.lowerBound, overlap.upperBound, transform(overlap, run.value))
            cursor = overlap.upperBound
            if run.upper > upper { push(upper, run.upper, run.value) }
        }
        if cursor < upper { push(cursor, upper, transform(cursor..<upper, nil)) }
        if replacement.count == windowCount, unchanged(from: windowStart, replacement) { return }
        replace(from: windowStart, to: windowEnd, with: replacement)
    }

    /// `update` of a range inside one run, the common case (a 4 KiB op on a larger run): at
    /// most three runs replace that run, the new one merged with a neighbour of equal value.
    /// Gives the runs the general path would, without walking a window.
    private mutating func updateInsideRun(_ run: Run, at position: Position, _ lower: UInt64, _ upper: UInt64, _ value: Value?) {
        if value == run.value { return }
        var start = position
        var end = next(position)
        var replacement: [Run] = []
        replacement.reserveCapacity(3)
        if run.lower < lower { replacement.append(Run(run.lower, lower, run.value)) }
        if let value {
            var middle = Run(lower, upper, value)
            if run.lower == lower, let before = previous(position) {
                let neighbour = chunks[before.chunk][before.index]
                if neighbour.upper == lower, neighbour.value == value {
                    middle.lower = neighbour.lower
                    start = before
                }
            }
            if run.upper == upper, end.chunk < chunks.count {
                let neighbour = chunks[end.chunk][end.index]
                if neighbour.lower == upper, neighbour.value == value {
                    middle.upper = neighbour.upper
                    end = next(end)
                }
            }
            replacement.append(middle)
        }
        if upper < run.upper { replacement.append(Run(upper, run.upper, run.value)) }
        replace(from: start, to: end, with: replacement)
    }

    /// True when the runs from `start` on equal `runs`: an update that changed nothing (a map
    /// of mapped pages, a request already pending) leaves the chunks untouched.
    private func unchanged(from start: Position, _ runs: [Run]) -> Bool {
        var position = start
        for run in runs {
            guard position.chunk < chunks.count, chunks[position.chunk][position.index] == run else { return false }
            position = next(position)
        }
        return true
    }

    /// Gives every page of `range` the value `value` (nil removes it).
    public mutating func assign(_ range: Range<UInt64>, _ value: Value?) {
        update(range) { _, _ in value }
    }

    // MARK: Positions

    private struct Position: Equatable {
        var chunk: Int
        var index: Int
    }

    private var endPosition: Position { Position(chunk: chunks.count, index: 0) }

    /// The first run whose upper bound is above `page`.
    private func firstPosition(endingAfter page: UInt64) -> Position {
        guard !chunks.isEmpty else { return endPosition }
        // The last chunk whose first run starts at or before `page`.
        var low = 0
        var high = chunkLowers.count
        while low < high {
            let middle = (low + high) / 2
            if chunkLowers[middle] <= page { low = middle + 1 } else { high = middle }
        }
        let chunk = max(low - 1, 0)
        let runs = chunks[chunk]
        var lo = 0
        var hi = runs.count
        while lo < hi {
            let middle = (lo + hi) / 2
            if runs[middle].upper <= page { lo = middle + 1 } else { hi = middle }
        }
        if lo < runs.count { return Position(chunk: chunk, index: lo) }
        return chunk + 1 < chunks.count ? Position(chunk: chunk + 1, index: 0) : endPosition
    }

    private func next(_ position: Position) -> Position {
        if position.index + 1 < chunks[position.chunk].count {
            return Position(chunk: position.chunk, index: position.index + 1)
        }
        return Position(chunk: position.chunk + 1, index: 0)
    }

    private func previous(_ position: Position) -> Position? {
        if position.chunk < chunks.count, position.index > 0 {
            return Position(chunk: position.chunk, index: position.index - 1)
        }
        guard position.chunk > 0 else { return nil }
        return Position(chunk: position.chunk - 1, index: chunks[position.chunk - 1].count - 1)
    }

    /// Replaces the runs from `start` up to (not including) `end` with `runs`, keeping chunks
    /// between chunkCapacity / 4 and 2 × chunkCapacity runs where there are enough runs.
    private mutating func replace(from start: Position, to end: Position, with runs: [Run]) {
        // Fast path: the window lies inside one chunk and the chunk stays within bounds.
        if start.chunk < chunks.count, end.chunk == start.chunk || (end.chunk == start.chunk + 1 && end.index == 0) {
            let endIndex = end.chunk == start.chunk ? end.index : chunks[start.chunk].count
            let newCount = chunks[start.chunk].count - (endIndex - start.index) + runs.count
            if newCount >= Self.chunkCapacity / 4 || chunks.count == 1, newCount > 0, newCount <= 2 * Self.chunkCapacity {
                chunks[start.chunk].replaceSubrange(start.index..<endIndex, with: runs)
                chunkLowers[start.chunk] = chunks[start.chunk][0].lower
                return
            }
        }
        // General path: rebuild the chunks the window spans, with a neighbour when small.
        var firstChunk = start.chunk
        var lastChunk: Int  // inclusive; may be firstChunk - 1 when no chunk is touched
        if end.chunk >= chunks.count {
            lastChunk = chunks.count - 1
        } else {
            lastChunk = end.index == 0 ? end.chunk - 1 : end.chunk
        }
        var combined: [Run] = []
        if firstChunk <= lastChunk {
            combined.append(contentsOf: chunks[firstChunk][..<start.index])
            combined.append(contentsOf: runs)
            if end.chunk <= lastChunk, end.chunk < chunks.count {
                combined.append(contentsOf: chunks[end.chunk][end.index...])
            }
        } else {
            // Pure insertion before chunk `firstChunk` (start.index is 0 there).
            combined = runs
            lastChunk = firstChunk - 1
        }
        if combined.count < Self.chunkCapacity / 4 {
            if firstChunk > 0 {
                firstChunk -= 1
                combined.insert(contentsOf: chunks[firstChunk], at: 0)
            } else if lastChunk + 1 < chunks.count {
                lastChunk += 1
                combined.append(contentsOf: chunks[lastChunk])
            }
        }
        var rebuilt: [[Run]] = []
        var index = 0
        while index < combined.count {
            let remaining = combined.count - index
            let take = remaining <= 2 * Self.chunkCapacity ? remaining : Self.chunkCapacity
            rebuilt.append(Array(combined[index..<(index + take)]))
            index += take
        }
        let span = firstChunk..<(lastChunk + 1)
        chunks.replaceSubrange(span, with: rebuilt)
        chunkLowers.replaceSubrange(span, with: rebuilt.map { $0[0].lower })
    }
}

extension RangeMap: Sendable where Value: Sendable {}
extension RangeMap.Run: Sendable where Value: Sendable {}
