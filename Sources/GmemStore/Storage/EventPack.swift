import CSQLite

/// The event log packed for replay (schema 5, `event_pack`): the integer columns of 1024
/// consecutive events in one zstd frame, so that a replay steps one SQLite row per 1024 events
/// instead of decoding the 25 columns of each (docs/STORE.md, "Event packs"). Derived data,
/// outside the hash chain like the page index: written from the event rows in the batch's
/// transaction, and checked against them by `verify`.
///
/// Block `b` holds seqs `b * 1024 + 1 … b * 1024 + 1024`, all of them; only whole blocks are
/// packed, so the events after the last whole block are read from their rows. The frame's
/// content is column by column, which zstd compresses to about two thirds of an event after
/// event layout (docs/PERFORMANCE.md, "Round 8"): a layout byte; the byte length of each of
/// `streamCount` streams as a varint; then the streams. Stream 0 holds each event's column
/// mask as a varint — bit `i` set when integer column `i` of `EventRow.columns` is not NULL,
/// bit `textBit` when one of its text or blob columns (producer_id, note, src_text, extras,
/// digest) is not NULL, bit `unalignedBit` when one of its `pageColumns` (offset, size, gpa) is
/// not a multiple of 4096. Stream `k + 1` holds integer column `integerColumns[k]` of the events
/// that have it, each as a zigzag varint: the page columns of an entry without `unalignedBit` in
/// pages (the value shifted right by 12); the columns of `deltaColumns` as the difference from
/// the value stored before it in the stream (`ts`, the addresses and the source line mostly
/// grow). An entry with `textBit` is only a marker: its event is read from its row, which holds
/// the texts. 1024 events make a frame of about 8 KiB: SQLite keeps a few KiB of it in the
/// table's page and the rest in one full overflow page, so that the pages hold the frames with
/// little room left over (256 events, about 2.5 KiB, left a third of each 4 KiB page empty; 512,
/// about 4 KiB, right at what a page keeps of a row, a sixth).
enum EventPack {
    /// Events per block. Fixed by the schema.
    static let eventsPerBlock: Int64 = 1024
    /// The integer columns an entry holds, by their index in `EventRow.columns`: ts … error_offset,
    /// src_file and src_line.
    static let integerColumns: [Int32] = Array(0...16) + [19, 20]
    /// The integer columns stored as differences: ts, offset, gpa, pfn, hva, src_line.
    static let deltaColumns: UInt32 = 1 << 0 | 1 << 6 | 1 << 8 | 1 << 9 | 1 << 14 | 1 << 20
    /// The streams of a block: the masks, then one per integer column.
    static let streamCount = 1 + 19
    /// The mask bits of `integerColumns`.
    static let integerBits: UInt32 = 0x1_FFFF | 1 << 19 | 1 << 20
    /// The stream of integer column `column`: 1–17 for ts … error_offset, 18 and 19 for
    /// src_file and src_line (the order of `integerColumns`).
    @inline(__always)
    static func stream(of column: Int) -> Int { column <= 16 ? column + 1 : column - 1 }
    /// The text and blob columns an entry marks: producer_id, note, src_text, extras, digest.
    static let textColumns: [Int32] = [17, 18, 21, 22, 23]
    /// The mask bit of an entry whose event has a text or blob column.
    static let textBit: UInt32 = 1 << 24
    /// The columns stored in pages when all of an entry's are page-aligned: offset, size, gpa.
    static let pageColumns: UInt32 = (1 << 6) | (1 << 7) | (1 << 8)
    /// The mask bit of an entry with a page column that is not page-aligned (stored as it is).
    static let unalignedBit: UInt32 = 1 << 25
    /// The mask bits an entry may have.
    static let knownBits: UInt32 = integerBits | textBit | unalignedBit
    /// The first byte of a block's frame content: the layout above.
    static let layout: UInt8 = 1
    /// zstd's level: a block is about 20 KiB of varints, which level 3 takes to about 8.
    static let level: Int32 = 3
    /// Columns an entry can address (`EventRow.columnCount`).
    static let columnSlots = 24

    /// The block that holds `seq`.
    static func block(of seq: Int64) -> Int64 { (seq - 1) / eventsPerBlock }
    /// The first seq of `block`.
    static func firstSeq(of block: Int64) -> Int64 { block * eventsPerBlock + 1 }

    /// One event's integer columns, and whether it has text.
    struct Entry {
        var mask: UInt32 = 0
        var values = InlineArray<24, Int64>(repeating: 0)

        /// Sets integer column `column` (an index in `EventRow.columns`).
        @inline(__always)
        mutating func set(_ column: Int32, _ value: Int64?) {
            guard let value else { return }
            values[Int(column)] = value
            mask |= 1 << UInt32(column)
        }

        /// Whether the event has a text or blob column, which the entry does not hold.
        var hasText: Bool {
            get { mask & EventPack.textBit != 0 }
            set { mask = newValue ? mask | EventPack.textBit : mask & ~EventPack.textBit }
        }

        /// The entry of the event in `row`'s columns from `first` on (as `EventRow.columns` lists them).
        init(row: Statement, at first: Int32) {
            for column in EventPack.integerColumns { set(column, row.optionalInt(first + column)) }
            hasText = EventPack.textColumns.contains { !row.isNull(first + $0) }
        }

        init() {}

        /// Integer column `column`; nil when NULL.
        func int(_ column: Int32) -> Int64? { mask & (1 << UInt32(column)) != 0 ? values[Int(column)] : nil }
    }

    /// The block being filled by a writer: the entries of its seqs so far, encoded.
    struct Builder {
        /// The block being filled, and how many of its seqs it holds.
        private(set) var block: Int64
        private(set) var count: Int64 = 0
        /// False when the block's first seq was never added (a log that starts inside it), or a
        /// seq was skipped: such a block is never packed.
        private var isWhole: Bool
        private var streams: [ByteWriter]
        private var previous = InlineArray<24, Int64>(repeating: 0)

        /// A builder whose next seq is `next`.
        init(next: Int64) {
            block = EventPack.block(of: next)
            isWhole = next == EventPack.firstSeq(of: block)
            streams = Array(repeating: ByteWriter(), count: EventPack.streamCount)
        }

        /// A builder whose next seq is `next`, holding the events of its block before it as
        /// their rows in `database` give them.
        init(next: Int64, database: Database) throws(SQLiteError) {
            self.init(next: next)
            let first = EventPack.firstSeq(of: block)
            guard next > first else { return }
            let rows = try database.prepare("SELECT seq, \(EventRow.columns) FROM event WHERE seq >= ? AND seq < ? ORDER BY seq")
            try rows.bind(1, first)
            try rows.bind(2, next)
            // Whole when the rows hold every seq from the block's first to `next` − 1 (`add`
            // and the check below say otherwise).
            isWhole = true
            var last = first - 1
            while try rows.step() {
                last = rows.int(0)
                _ = add(Entry(row: rows, at: 1), seq: last)
            }
            if last != next - 1 { isWhole = false }
        }

        /// Adds the entry of `seq`, the seq after the last one added; returns the block's
        /// content (uncompressed) once its last seq is added, when the block is whole.
        mutating func add(_ entry: Entry, seq: Int64) -> (block: Int64, content: [UInt8])? {
            if EventPack.block(of: seq) != block { self = Builder(next: seq) }
            if seq != EventPack.firstSeq(of: block) + count { isWhole = false }
            let present = entry.mask & EventPack.integerBits
            var mask = entry.mask & ~EventPack.unalignedBit
            var pages = present & EventPack.pageColumns
            while pages != 0 {
                if entry.values[pages.trailingZeroBitCount] & 0xFFF != 0 { mask |= EventPack.unalignedBit }
                pages &= pages - 1
            }
            let inPages = mask & EventPack.unalignedBit == 0
            streams[0].varint(UInt64(mask))
            // Each column to its own stream, the bits of the mask in turn (as `Reader` takes them).
            var columns = present
            while columns != 0 {
                let column = columns.trailingZeroBitCount
                columns &= columns - 1
                let bit = UInt32(1) << UInt32(column)
                var value = entry.values[column]
                if inPages, EventPack.pageColumns & bit != 0 {
                    value = Int64(bitPattern: UInt64(bitPattern: value) >> 12)
                }
                if EventPack.deltaColumns & bit != 0 {
                    let stored = value
                    value = stored &- previous[column]
                    previous[column] = stored
                }
                streams[EventPack.stream(of: column)].varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
            }
            count += 1
            guard seq == EventPack.firstSeq(of: block + 1) - 1 else { return nil }
            let finished = isWhole && count == EventPack.eventsPerBlock ? (block, content) : nil
            self = Builder(next: seq + 1)
            return finished
        }

        /// The uncompressed content of the block so far.
        var content: [UInt8] {
            var out = ByteWriter()
            out.byte(EventPack.layout)
            for stream in streams { out.varint(UInt64(stream.bytes.count)) }
            for stream in streams { out.bytes.append(contentsOf: stream.bytes) }
            return out.bytes
        }
    }

    /// The pack of a block that does not decode, or does not hold its events: it was changed.
    struct Malformed: Error {
        var message: String
    }

    /// One entry as a reader decoded it: a view of the reader's table, good until its next
    /// `load` (a replay builds each event from it without copying the 24 slots).
    struct DecodedEntry: EventColumnSource {
        let mask: UInt32
        let values: UnsafePointer<Int64>

        var hasText: Bool { mask & EventPack.textBit != 0 }

        @inline(__always)
        func int(_ column: Int32) -> Int64? { mask & (1 << UInt32(column)) != 0 ? values[Int(column)] : nil }
        func text(_ column: Int32) -> String? { nil }
        func digest() -> [UInt8]? { nil }

        /// True when `other` holds the same columns with the same values.
        func holdsTheSame(as other: DecodedEntry) -> Bool {
            mask == other.mask && EventPack.integerColumns.allSatisfy { int($0) == other.int($0) }
        }
    }

    /// The entries of a block's frame, in seq order: the whole block is decoded when it is
    /// loaded, into a table of its own, so that taking the next entry touches no state of the
    /// reader but its position (each property a class reads per event costs an exclusivity
    /// check: they were 4 % of a read's samples).
    final class Reader {
        private var bytes: [UInt8] = []
        private let zstd = ZstdFrame.Decompressor()
        /// The block's entries: a mask and `columnSlots` values each.
        private let masks = UnsafeMutablePointer<UInt32>.allocate(capacity: Int(EventPack.eventsPerBlock))
        private let table = UnsafeMutablePointer<Int64>.allocate(capacity: Int(EventPack.eventsPerBlock) * EventPack.columnSlots)
        /// Entries not yet taken.
        private(set) var remaining: Int64 = 0

        init() {
            masks.initialize(repeating: 0, count: Int(EventPack.eventsPerBlock))
            table.initialize(repeating: 0, count: Int(EventPack.eventsPerBlock) * EventPack.columnSlots)
        }

        deinit {
            masks.deallocate()
            table.deallocate()
        }

        /// Decodes `frame` (the frame of a stored pack, read in place); throws when it is not a
        /// block's content: its streams end early or hold more, an unknown bit, a page past 2^64.
        func load(_ frame: UnsafeRawBufferPointer) throws(Malformed) {
            remaining = 0
            guard zstd.decompress(frame, into: &bytes, limit: 32 * Int(EventPack.eventsPerBlock) * EventPack.columnSlots) else {
                throw Malformed(message: "does not decode")
            }
            try decode()
        }

        /// Decodes a block's uncompressed content.
        func load(content: [UInt8]) throws(Malformed) {
            remaining = 0
            bytes = content
            try decode()
        }

        /// The content read by `load`.
        var content: [UInt8] { bytes }

        /// The next entry, a view of the table good until the next `load`; only while
        /// `remaining` is above 0 (a loaded block holds all its entries).
        func next() -> DecodedEntry {
            precondition(remaining > 0, "an event pack read past its last entry")
            let index = Int(EventPack.eventsPerBlock - remaining)
            remaining -= 1
            return DecodedEntry(mask: masks[index], values: table + index * EventPack.columnSlots)
        }

        private func decode() throws(Malformed) {
            // Where each stream's next value is, and where it ends; the value stored before in
            // each delta column. (Buffers, not `InlineArray`: a release build once misread
            // packs through `InlineArray` properties, PERFORMANCE.md "Round 8".)
            let scratch = UnsafeMutablePointer<Int>.allocate(capacity: 2 * EventPack.streamCount)
            let previous = UnsafeMutablePointer<Int64>.allocate(capacity: EventPack.columnSlots)
            scratch.initialize(repeating: 0, count: 2 * EventPack.streamCount)
            previous.initialize(repeating: 0, count: EventPack.columnSlots)
            defer {
                scratch.deallocate()
                previous.deallocate()
            }
            let cursor = scratch, end = scratch + EventPack.streamCount
            let masks = masks, table = table
            try bytes.withUnsafeBufferPointer { bytes throws(Malformed) in
                guard bytes.first == EventPack.layout else { throw Malformed(message: "does not decode") }
                var position = 1
                for stream in 0..<EventPack.streamCount {
                    let length = try Self.varint(bytes, &position, end: bytes.count)
                    guard length <= UInt64(bytes.count) else { throw Malformed(message: "does not decode") }
                    end[stream] = Int(length)
                }
                for stream in 0..<EventPack.streamCount {
                    cursor[stream] = position
                    position += end[stream]
                    end[stream] = position
                }
                guard position == bytes.count else { throw Malformed(message: "does not decode") }
                for index in 0..<Int(EventPack.eventsPerBlock) {
                    let values = table + index * EventPack.columnSlots
                    let wide = try Self.varint(bytes, &cursor[0], end: end[0])
                    guard wide & ~UInt64(EventPack.knownBits) == 0 else { throw Malformed(message: "holds an unknown column") }
                    let mask = UInt32(wide)
                    let inPages = mask & EventPack.unalignedBit == 0
                    var columns = mask & EventPack.integerBits
                    while columns != 0 {
                        let column = columns.trailingZeroBitCount
                        columns &= columns - 1
                        let stream = EventPack.stream(of: column)
                        let zigzag = try Self.varint(bytes, &cursor[stream], end: end[stream])
                        var value = Int64(bitPattern: (zigzag >> 1) ^ (0 &- (zigzag & 1)))
                        let bit = UInt32(1) << UInt32(column)
                        if EventPack.deltaColumns & bit != 0 {
                            value = previous[column] &+ value
                            previous[column] = value
                        }
                        if inPages, EventPack.pageColumns & bit != 0 {
                            guard UInt64(bitPattern: value) >> 52 == 0 else { throw Malformed(message: "holds a page number past 2^64 bytes") }
                            value = Int64(bitPattern: UInt64(bitPattern: value) << 12)
                        }
                        values[column] = value
                    }
                    masks[index] = mask & ~EventPack.unalignedBit
                }
                for stream in 0..<EventPack.streamCount where cursor[stream] != end[stream] {
                    throw Malformed(message: "holds bytes past its last event")
                }
            }
            remaining = EventPack.eventsPerBlock
        }

        @inline(__always)
        private static func varint(_ bytes: UnsafeBufferPointer<UInt8>, _ position: inout Int, end: Int) throws(Malformed) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < end, shift < 64 {
                let byte = bytes[position]
                position += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            throw Malformed(message: "ends inside an event")
        }
    }

    /// Stores a whole block, its content compressed.
    static func write(block: Int64, content: [UInt8], to database: Database, zstd: ZstdFrame.Compressor) throws(SQLiteError) {
        let insert = try database.cached("INSERT INTO event_pack(block, events) VALUES (?, ?)")
        try insert.bind(1, block)
        try insert.bind(2, zstd.compress(content, level: level))
        try insert.run()
    }

    /// Packs every whole block of the event rows a store already holds (the migration to
    /// schema 5: derived data, the log is not changed).
    static func packStoredRows(_ database: Database) throws(SQLiteError) {
        let rows = try database.prepare("SELECT seq, \(EventRow.columns) FROM event ORDER BY seq")
        var builder = Builder(next: 1)
        let zstd = ZstdFrame.Compressor()
        while try rows.step() {
            if let finished = builder.add(Entry(row: rows, at: 1), seq: rows.int(0)) {
                try write(block: finished.block, content: finished.content, to: database, zstd: zstd)
            }
        }
    }
}
