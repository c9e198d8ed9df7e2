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
        let lower = range.lowerBound
        let upper = range.upperBound
        let position = firstPosition(endingAfter: lower)
        var chunk = position.chunk
        var start = position.index
        // Each chunk walked through its buffer: no bounds check of the chunks and no retain of
        // a chunk per run (a 1 GiB range is thousands of runs).
        while chunk < chunks.count {
            let goOn = chunks[chunk].withUnsafeBufferPointer { runs -> Bool in
                var index = start
                while index < runs.count {
                    let run = runs[index]
                    if run.lower >= upper { return false }
                    if !body(Run(max(run.lower, lower), min(run.upper, upper), run.value)) { return false }
                    index += 1
                }
                return true
            }
            guard goOn else { return }
            chunk += 1
            start = 0
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
        if value == nil, removeInsideRun(run, at: position, lower, upper) { return }
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

    /// Removes the values of pages `lower..<upper` inside `run` (at `position`) in place: the
    /// run trimmed at one end, removed, or split around the range, with no array built (the
    /// frames a populate or punch hole frees, one run each). False, changing nothing, when a
    /// chunk's bounds would need restoring (the general path does that).
    private mutating func removeInsideRun(_ run: Run, at position: Position, _ lower: UInt64, _ upper: UInt64) -> Bool {
        let chunk = position.chunk
        let index = position.index
        let count = chunks[chunk].count
        switch (run.lower == lower, run.upper == upper) {
        case (true, true):
            guard count > Self.chunkCapacity / 4 else { return false }
            chunks[chunk].remove(at: index)
            if index == 0 { chunkLowers[chunk] = chunks[chunk][0].lower }
        case (true, false):
            chunks[chunk][index].lower = upper
            if index == 0 { chunkLowers[chunk] = upper }
        case (false, true):
            chunks[chunk][index].upper = lower
        case (false, false):
            guard count < 2 * Self.chunkCapacity else { return false }
            chunks[chunk][index].upper = lower
            chunks[chunk].insert(Run(upper, run.upper, run.value), at: index + 1)
        }
        return true
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

    /// Applies `change` to the value of every page of `range` that has one, then merges equal
    /// neighbours; pages without a value keep none. The engine's common update: it works in
    /// place on the chunks, allocating nothing unless a chunk outgrows its bound. The runs
    /// inside the range are changed and merged with their equal neighbours in one walk through
    /// the chunk's buffer (a write index behind the read one); a run that starts before the
    /// range or ends after it is split at the range's end where its value changes. What is left
    /// to merge after the walk is at most a seam per chunk border, and the chunks' bounds.
    /// Gives the runs `update` would.
    /// - Complexity: O(log n + k + chunkCapacity) for k runs overlapping `range`.
    public mutating func modify(_ range: Range<UInt64>, _ change: (inout Value) -> Void) {
        walkAndChange(range) { _, value in change(&value) }
    }

    /// `modify`, with `change` also given the pages (clipped to `range`) whose value it
    /// changes: a caller that must act on the old values of those pages (the frames a populate
    /// replaces) reads them in the same walk instead of walking the range first.
    public mutating func modify(_ range: Range<UInt64>, withPages change: (Range<UInt64>, inout Value) -> Void) {
        walkAndChange(range, change)
    }

    /// The body of both `modify`s, inlined into each so that each keeps its own specializations
    /// for its callers' closures (one body taking the other's closure called it per run).
    @inline(__always)
    private mutating func walkAndChange(_ range: Range<UInt64>, _ change: (Range<UInt64>, inout Value) -> Void) {
        guard !range.isEmpty else { return }
        let lower = range.lowerBound
        let upper = range.upperBound
        var position = firstPosition(endingAfter: lower)
        var firstChanged: Position?
        var lastChanged = position
        while position.chunk < chunks.count {
            // The runs of this chunk that lie inside the range change in place, through the
            // chunk's buffer (one uniqueness check per chunk, not two per run), each merged
            // with the run written before it when they touch and are equal.
            let chunk = position.chunk
            let start = position.index
            let (read, write, first, last) = chunks[chunk].withUnsafeMutableBufferPointer { runs -> (Int, Int, Int, Int) in
                var read = start
                var write = start
                var first = -1
                var last = -1
                while read < runs.count {
                    let run = runs[read]
                    if run.lower < lower || run.upper > upper { break }
                    var value = run.value
                    change(run.lower..<run.upper, &value)
                    if write > 0, runs[write - 1].upper == run.lower, runs[write - 1].value == value {
                        runs[write - 1].upper = run.upper
                        if first < 0 { first = write - 1 }
                        last = write - 1
                    } else {
                        if value != run.value {
                            runs[write] = Run(run.lower, run.upper, value)
                            if first < 0 { first = write }
                            last = write
                        } else if write != read {
                            runs[write] = run
                        }
                        write += 1
                    }
                    read += 1
                }
                return (read, write, first, last)
            }
            if first >= 0 {
                if firstChanged == nil { firstChanged = Position(chunk: chunk, index: first) }
                lastChanged = Position(chunk: chunk, index: last)
            }
            // The runs merged away leave the chunk: one shift of its tail.
            if write < read { chunks[chunk].removeSubrange(write..<read) }
            guard write < chunks[chunk].count else {
                position = Position(chunk: chunk + 1, index: 0)
                continue
            }
            position = Position(chunk: chunk, index: write)
            // A run that starts before the range or ends after it (or lies past it).
            let run = chunks[chunk][write]
            if run.lower >= upper {
                // Past the range, unchanged: merged with the run before it when that one changed
                // to its value (two unchanged runs are never equal).
                if write > 0 {
                    let before = chunks[chunk][write - 1]
                    if before.upper == run.lower, before.value == run.value {
                        chunks[chunk][write - 1].upper = run.upper
                        chunks[chunk].remove(at: write)
                    }
                }
                break
            }
            var value = run.value
            change(max(run.lower, lower)..<min(run.upper, upper), &value)
            if value == run.value {
                // Unchanged, but the run before it may have changed to its value (only at the
                // range's end: the run before the range's start did not change).
                if write > 0 {
                    let before = chunks[chunk][write - 1]
                    if before.upper == run.lower, before.value == value {
                        chunks[chunk][write - 1].upper = run.upper
                        chunks[chunk].remove(at: write)
                        break
                    }
                }
                position = next(position)
                continue
            }
            var index = write
            if run.lower < lower, run.upper > upper {
                // The range inside one run (a 4 KiB op on a larger run): both ends split with
                // one shift of the chunk's tail; neither part can equal the new value.
                chunks[chunk][index].upper = lower
                chunks[chunk].insert(contentsOf: repeatElement(Run(upper, run.upper, run.value), count: 2), at: index + 1)
                index += 1
                chunks[chunk][index] = Run(lower, upper, value)
                if firstChanged == nil { firstChanged = Position(chunk: chunk, index: index) }
                lastChanged = Position(chunk: chunk, index: index)
                break
            }
            if run.lower < lower {
                // The part before the range keeps its value (not the new one: no merge there);
                // the part inside is merged with what follows by the next walk.
                chunks[chunk][index].upper = lower
                index += 1
                chunks[chunk].insert(Run(lower, run.upper, value), at: index)
                if firstChanged == nil { firstChanged = Position(chunk: chunk, index: index) }
                lastChanged = Position(chunk: chunk, index: index)
                position = next(lastChanged)
                continue
            }
            // The run ends after the range: the part after keeps its value, the part inside
            // takes the new one and may equal the run before it.
            chunks[chunk][index].value = value
            chunks[chunk][index].upper = upper
            chunks[chunk].insert(Run(upper, run.upper, run.value), at: index + 1)
            if index > 0 {
                let before = chunks[chunk][index - 1]
                if before.upper == run.lower, before.value == value {
                    chunks[chunk][index - 1].upper = upper
                    chunks[chunk].remove(at: index)
                    index -= 1
                }
            }
            if firstChanged == nil { firstChanged = Position(chunk: chunk, index: index) }
            lastChanged = Position(chunk: chunk, index: index)
            break
        }
        guard let firstChanged else { return }
        let start = previous(firstChanged) ?? firstChanged
        let after = next(lastChanged)
        let end = after.chunk < chunks.count ? after : lastChanged
        compact(from: start, through: end)
    }

    /// Merges the equal touching neighbours that meet across the chunk borders from `start`
    /// through `end` (`modify`'s walk merged those inside each chunk), then restores the
    /// chunks' bounds: none empty, none above 2 × chunkCapacity, small ones joined to a
    /// neighbour.
    private mutating func compact(from start: Position, through end: Position) {
        // Across chunk borders, from the last to the first so that removals keep indices.
        var chunk = end.chunk
        while chunk > start.chunk {
            let left = chunk - 1
            if chunk < chunks.count, let last = chunks[left].last, let first = chunks[chunk].first,
                last.upper == first.lower, last.value == first.value
            {
                chunks[left][chunks[left].count - 1].upper = first.upper
                chunks[chunk].removeFirst()
                if chunks[chunk].isEmpty {
                    chunks.remove(at: chunk)
                    chunkLowers.remove(at: chunk)
                } else {
                    chunkLowers[chunk] = chunks[chunk][0].lower
                }
            }
            chunk -= 1
        }
        // Bounds of the chunks the window touched (the later ones shifted down by removals).
        var index = min(end.chunk, chunks.count - 1)
        while index >= start.chunk, index >= 0 {
            if chunks[index].isEmpty {
                chunks.remove(at: index)
                chunkLowers.remove(at: index)
            } else if chunks[index].count > 2 * Self.chunkCapacity {
                let half = chunks[index].count / 2
                let tail = Array(chunks[index][half...])
                chunks[index].removeSubrange(half...)
                chunks.insert(tail, at: index + 1)
                chunkLowers.insert(tail[0].lower, at: index + 1)
                chunkLowers[index] = chunks[index][0].lower
            } else {
                chunkLowers[index] = chunks[index][0].lower
                if chunks[index].count < Self.chunkCapacity / 4, index + 1 < chunks.count,
                    chunks[index].count + chunks[index + 1].count <= 2 * Self.chunkCapacity
                {
                    chunks[index].append(contentsOf: chunks[index + 1])
                    chunks.remove(at: index + 1)
                    chunkLowers.remove(at: index + 1)
                }
            }
            index -= 1
        }
    }

    /// Gives every page of `range` the value `value` (nil removes it).
    public mutating func assign(_ range: Range<UInt64>, _ value: Value?) {
        if let value, insertIntoGap(range, value) { return }
        update(range) { _, _ in value }
    }

    /// `assign` of a value to a range that lies in a gap and touches no run of the same value
    /// (the frames of a populate, usually): one insertion in place, no window rebuilt. False,
    /// changing nothing, when the range is not such a case or its chunk is full.
    private mutating func insertIntoGap(_ range: Range<UInt64>, _ value: Value) -> Bool {
        guard !range.isEmpty, !chunks.isEmpty else { return false }
        let position = firstPosition(endingAfter: range.lowerBound)
        if position.chunk < chunks.count {
            let next = chunks[position.chunk][position.index]
            if next.lower < range.upperBound { return false }
            if next.lower == range.upperBound, next.value == value { return false }
        }
        if let before = previous(position) {
            let run = chunks[before.chunk][before.index]
            if run.upper == range.lowerBound, run.value == value { return false }
        }
        let chunk = position.chunk < chunks.count ? position.chunk : chunks.count - 1
        let index = position.chunk < chunks.count ? position.index : chunks[chunk].count
        guard chunks[chunk].count < 2 * Self.chunkCapacity else { return false }
        chunks[chunk].insert(Run(range.lowerBound, range.upperBound, value), at: index)
        if index == 0 { chunkLowers[chunk] = range.lowerBound }
        return true
    }

    /// What breaks the map's invariants, or nil: runs sorted, disjoint, non-empty and merged,
    /// no chunk empty or above 2 × chunkCapacity, each chunk's first page beside it. For tests.
    func invariantViolation() -> String? {
        guard chunks.count == chunkLowers.count else { return "\(chunks.count) chunks, \(chunkLowers.count) chunk lowers" }
        var previous: Run?
        for (index, chunk) in chunks.enumerated() {
            guard let first = chunk.first else { return "chunk \(index) is empty" }
            if chunk.count > 2 * Self.chunkCapacity { return "chunk \(index) holds \(chunk.count) runs" }
            if chunkLowers[index] != first.lower { return "chunk \(index) starts at \(first.lower), its lower says \(chunkLowers[index])" }
            for run in chunk {
                if run.lower >= run.upper { return "an empty run at \(run.lower)" }
                if let previous {
                    if previous.upper > run.lower { return "runs overlap at \(run.lower)" }
                    if previous.upper == run.lower, previous.value == run.value { return "equal runs not merged at \(run.lower)" }
                }
                previous = run
            }
        }
        return nil
    }

    // MARK: Positions

    private struct Position: Equatable {
        var chunk: Int
        var index: Int
    }

    private var endPosition: Position { Position(chunk: chunks.count, index: 0) }

    /// The first run whose upper bound is above `page`.
    ///
    /// Both binary searches step without a branch on their comparisons (a conditional move):
    /// the page an event names is random, so a branch per step was mispredicted about every
    /// other step (callgrind's branch model: 8.9 of the 30 mispredictions an event were here).
    /// The steps that end each search are written out one after the other, not as a loop: in
    /// a loop the compiler turns the conditional move back into a branch.
    private func firstPosition(endingAfter page: UInt64) -> Position {
        guard !chunks.isEmpty else { return endPosition }
        // The last chunk whose first run starts at or before `page` (the first when none does).
        let chunk = chunkLowers.withUnsafeBufferPointer { lowers -> Int in
            var base = 0
            var length = lowers.count
            // One step keeps the answer in `base ..< base + length` and halves `length`
            // (rounding up); at length 1 it changes nothing.
            @inline(__always) func step() {
                let half = length &>> 1
                base = lowers[base &+ half] <= page ? base &+ half : base
                length &-= half
            }
            while length > 64 { step() }
            step(); step(); step(); step(); step(); step()
            return base
        }
        // Searched through the chunk's buffer: no copy (and no retain) of the chunk per step.
        // The last run ending at or before `page` (else the first), then the one after it.
        let (index, count) = chunks[chunk].withUnsafeBufferPointer { runs -> (Int, Int) in
            var base = 0
            var length = runs.count
            @inline(__always) func step() {
                let half = length &>> 1
                base = runs[base &+ half].upper <= page ? base &+ half : base
                length &-= half
            }
            // A chunk holds at most 2 × chunkCapacity = 128 runs: seven steps.
            while length > 128 { step() }
            step(); step(); step(); step(); step(); step(); step()
            return (runs[base].upper <= page ? base &+ 1 : base, runs.count)
        }
        if index < count { return Position(chunk: chunk, index: index) }
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
