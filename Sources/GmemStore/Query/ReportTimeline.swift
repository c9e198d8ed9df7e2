/// The picture `report` draws: for each gmem file, its pages (rows, offset downward) over the
/// log (columns, seq to the right), each cell summarising the pages and events it stands for.
/// A cell holds many pages and many events on a long log: it shows what its pages were at the
/// end of its column, aggregated (any mapped, any pinned, any quarantined; shared, private or
/// a mix).
public struct ReportTimeline: Sendable {
    /// What one cell shows, as bits.
    public struct Cell: Hashable, Sendable {
        public var bits: UInt8
        public static let shared: UInt8 = 1
        public static let `private`: UInt8 = 2
        public static let mapped: UInt8 = 4
        public static let pinned: UInt8 = 8
        public static let quarantined: UInt8 = 16
        public func has(_ bit: UInt8) -> Bool { bits & bit != 0 }
    }

    /// A rectangle of equal cells: columns [column, column + width), rows [row, row + height).
    public struct Block: Equatable, Sendable {
        public var column: Int
        public var width: Int
        public var row: Int
        public var height: Int
        public var cell: Cell
    }

    /// One gmem file's lane.
    public struct Lane: Sendable {
        public var gmem: String
        public var vm: String
        public var size: UInt64
        /// The first and last column in which the file was open.
        public var firstColumn: Int
        public var lastColumn: Int
        public var blocks: [Block] = []
    }

    /// The number of events in the log.
    public var events: Int64
    public var columns: Int
    public var rows: Int
    /// The last seq of each column.
    public var columnEnd: [Int64]
    /// The ts of the last event with one in each column.
    public var columnTime: [Int64?]
    public var lanes: [Lane]

    /// The column that holds `seq`.
    public func column(of seq: Int64) -> Int {
        guard events > 0 else { return 0 }
        var low = 0
        var high = columnEnd.count - 1
        while low < high {
            let middle = (low + high) / 2
            if columnEnd[middle] >= seq { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// Replays the whole log once, sampling every open file at each column's end.
    /// - Complexity: O(events + columns · Σ runs of the open files).
    public static func build(store: Store, columns wanted: Int = 900, rows: Int = 96, progress: ((Int64, Int64) -> Void)? = nil) throws -> ReportTimeline {
        let head = try store.headLink().seq
        let columns = Int(max(1, min(Int64(wanted), head)))
        var columnEnd: [Int64] = []
        for column in 0..<columns { columnEnd.append(head * Int64(column + 1) / Int64(columns)) }
        var timeline = ReportTimeline(events: head, columns: columns, rows: rows, columnEnd: columnEnd, columnTime: Array(repeating: nil, count: columns), lanes: [])
        guard head > 0 else { return timeline }
        var engine = try store.genesisEngine()
        var laneOfFile: [Int: Int] = [:]
        // Per lane and row: where the row's current cell began, and the cell.
        var open: [Int: [(start: Int, cell: Cell)]] = [:]
        var segments: [Int: [Block]] = [:]
        var column = 0
        var lastTime: Int64?

        func close(_ lane: Int, row: Int, at end: Int) {
            guard let current = open[lane]?[row], end > current.start, current.cell.bits != 0 else { return }
            segments[lane, default: []].append(Block(column: current.start, width: end - current.start, row: row, height: 1, cell: current.cell))
        }

        func sample(_ column: Int) {
            var seen: Set<Int> = []
            for (index, file) in engine.state.files.enumerated() where file.isOpen {
                seen.insert(index)
                let lane: Int
                if let known = laneOfFile[index] {
                    lane = known
                } else {
                    lane = timeline.lanes.count
                    laneOfFile[index] = lane
                    timeline.lanes.append(Lane(gmem: file.name, vm: file.vm, size: file.size, firstColumn: column, lastColumn: column))
                    open[lane] = Array(repeating: (column, Cell(bits: 0)), count: rows)
                }
                timeline.lanes[lane].lastColumn = column
                let cells = raster(file, rows: rows)
                for row in 0..<rows where open[lane]![row].cell != cells[row] {
                    close(lane, row: row, at: column)
                    open[lane]![row] = (column, cells[row])
                }
            }
            for (index, lane) in laneOfFile where !seen.contains(index) && open[lane] != nil {
                for row in 0..<rows { close(lane, row: row, at: column) }
                open[lane] = nil
            }
        }

        try store.forEachEvent(in: 1...head) { stored in
            let event = try stored.decoded()
            engine.apply(event, seq: stored.seq)
            if let ts = event.ts { lastTime = ts }
            while column < columns, stored.seq == columnEnd[column] {
                timeline.columnTime[column] = lastTime
                sample(column)
                column += 1
            }
            if let progress, stored.seq % 65_536 == 0 { progress(stored.seq, head) }
            return true
        }
        for lane in open.keys.sorted() {
            for row in 0..<rows { close(lane, row: row, at: columns) }
        }
        // Rows that changed together become one block.
        for (lane, rowSegments) in segments {
            let ordered = rowSegments.sorted { ($0.column, $0.width, $0.cell.bits, $0.row) < ($1.column, $1.width, $1.cell.bits, $1.row) }
            var blocks: [Block] = []
            for segment in ordered {
                if var last = blocks.last, last.column == segment.column, last.width == segment.width, last.cell == segment.cell,
                    last.row + last.height == segment.row
                {
                    last.height += 1
                    blocks[blocks.count - 1] = last
                } else {
                    blocks.append(segment)
                }
            }
            timeline.lanes[lane].blocks = blocks
        }
        return timeline
    }

    /// The cells of one file: row r holds pages [r·n/rows, (r+1)·n/rows).
    static func raster(_ file: GmemFile, rows: Int) -> [Cell] {
        var cells = Array(repeating: Cell(bits: 0), count: rows)
        let pages = max(file.pageCount, 1)
        let rowCount = UInt64(rows)
        for run in file.pages.runs {
            var bits: UInt8 = run.value.shareability == .shared ? Cell.shared : Cell.private
            if run.value.mapped { bits |= Cell.mapped }
            if !run.value.pins.isEmpty { bits |= Cell.pinned }
            if run.value.quarantined { bits |= Cell.quarantined }
            let first = Int(run.lower.multipliedFullWidth(by: rowCount).low / pages)
            let last = Int((run.upper - 1).multipliedFullWidth(by: rowCount).low / pages)
            for row in first...min(last, rows - 1) { cells[row].bits |= bits }
        }
        return cells
    }

    /// The row that holds page `page` of a file of `pageCount` pages.
    public func row(ofPage page: UInt64, pageCount: UInt64) -> Int {
        min(rows - 1, Int(page.multipliedFullWidth(by: UInt64(rows)).low / max(pageCount, 1)))
    }
}
