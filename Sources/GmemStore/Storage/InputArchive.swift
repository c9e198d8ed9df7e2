import CZstd
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Crypto

/// The bytes of an input as given, kept in the store (`input`, `input_chunk`): the original
/// file is evidence too. The bytes are cut into chunks of `chunkSize`, each compressed into one
/// zstd frame, so that one line is found by decompressing one chunk, and a store never holds
/// the whole input in memory.
public enum InputArchive {
    /// Bytes of input per chunk.
    public static let chunkSize = 1 << 18
    /// zstd's level: the fastest of the default range; the input is text and compresses well.
    static let level: Int32 = 3

    /// Writes one input's chunks while it is read (inside the batch's transaction).
    final class Writer {
        let input: Int64
        private unowned let database: Database
        private var pending: [UInt8] = []
        private var index: Int64 = 0
        /// The line the next chunk's first byte belongs to.
        private var nextChunkFirstLine: Int64 = 1
        private var lineBreaks: Int64 = 0
        /// The reader the bytes come through: their hash, their lines, their compression.
        private unowned let reader: LineReader
        private(set) var size: Int64 = 0

        /// Starts input `name` of `batch`, whose bytes `reader` reads.
        init(batch: Int64, name: String, database: Database, reader: LineReader) throws {
            self.database = database
            self.reader = reader
            let insert = try database.cached("INSERT INTO input(batch, name, size, compression, lines, lf_lines, content_hash) VALUES (?, ?, 0, 'none', 0, 0, x'')")
            try insert.bind(1, batch)
            try insert.bind(2, name)
            try insert.run()
            input = database.lastInsertRowID
            pending.reserveCapacity(InputArchive.chunkSize)
        }

        /// The first failure to store a chunk, thrown by `finish`.
        private var failure: Error?

        /// Takes the next bytes of the input, as read (the reader's observer cannot throw: a
        /// failure is kept and `finish` throws it, which rolls the batch back).
        func take(_ bytes: UnsafeRawBufferPointer) {
            guard failure == nil else { return }
            do { try append(bytes) } catch { failure = error }
        }

        private func append(_ bytes: UnsafeRawBufferPointer) throws {
            size += Int64(bytes.count)
            var offset = 0
            while offset < bytes.count {
                let part = min(InputArchive.chunkSize - pending.count, bytes.count - offset)
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + part)]))
                offset += part
                if pending.count == InputArchive.chunkSize { try flush() }
            }
        }

        /// Set when the input is read on another thread than the batch's (`PrefetchedSource`):
        /// chunks are then compressed on the reading thread and held until the batch's thread
        /// stores them (`storeReadyChunks`), since only that thread uses the connection. Set
        /// before the input is read.
        var defersInserts = false
        /// Called on the reading thread after each chunk it compressed (with `defersInserts`):
        /// it waits while too many are held, and returns false when the batch has stopped (the
        /// chunks held are then dropped: the batch rolls back).
        var chunkReady: (() -> Bool)?
        /// Compressed chunks not yet stored, in order (only with `defersInserts`).
        private let ready = Mutex<[(index: Int64, firstLine: Int64, data: [UInt8])]>([])

        private func flush() throws {
            guard !pending.isEmpty else { return }
            let compressed = InputArchive.compress(pending)
            let firstLine = reader.compression == .none ? nextChunkFirstLine : 0
            if defersInserts {
                // Held at its compressed size, not zstd's bound (about a chunk each).
                let held = Array(compressed[...])
                ready.withLock { $0.append((index, firstLine, held)) }
                if let chunkReady, !chunkReady() { ready.withLock { $0.removeAll() } }
            } else {
                try insertChunk(index: index, firstLine: firstLine, data: compressed)
            }
            lineBreaks += pending.withUnsafeBytes { InputArchive.lineBreaks(in: $0) }
            nextChunkFirstLine = lineBreaks + 1
            index += 1
            pending.removeAll(keepingCapacity: true)
        }

        private func insertChunk(index: Int64, firstLine: Int64, data: [UInt8]) throws {
            let insert = try database.cached("INSERT INTO input_chunk(input, idx, first_line, data) VALUES (?, ?, ?, ?)")
            try insert.bind(1, input)
            try insert.bind(2, index)
            try insert.bind(3, firstLine)
            try insert.bind(4, data)
            try insert.run()
        }

        /// Stores the chunks the reading thread has compressed so far (with `defersInserts`);
        /// called on the batch's thread.
        func storeReadyChunks() throws {
            let chunks = ready.withLock { chunks in
                defer { chunks.removeAll() }
                return chunks
            }
            for chunk in chunks { try insertChunk(index: chunk.index, firstLine: chunk.firstLine, data: chunk.data) }
        }

        /// Writes the last chunk and the input's size, line count and hash (the reader's: the
        /// SHA-256 of the same bytes, computed once). The input has been read to where the
        /// batch stops, and no other thread reads it any more.
        func finish() throws {
            if let failure { throw failure }
            let last = pending.last
            try flush()
            try storeReadyChunks()
            // The lines the reader read (after decompression; a lone CR ends a line too), or the
            // line breaks of the bytes when there are more (a batch stopped before the end).
            let lfLines = lineBreaks + (size > 0 && last != 0x0A ? 1 : 0)
            let lines = max(Int64(reader.lineNumber), lfLines)
            let update = try database.cached("UPDATE input SET size = ?, compression = ?, lines = ?, lf_lines = ?, content_hash = ? WHERE id = ?")
            try update.bind(1, size)
            // A trace.dat is a binary file: its events name records, not lines (`line` finds none).
            try update.bind(2, reader.isTraceDat ? "trace.dat" : reader.compression.rawValue)
            try update.bind(3, lines)
            try update.bind(4, reader.compression == .none && lfLines == Int64(reader.lineNumber) ? 1 : 0)
            try update.bind(5, reader.contentHash)
            try update.bind(6, input)
            try update.run()
        }
    }

    /// The number of line breaks in `bytes`.
    static func lineBreaks(in bytes: UnsafeRawBufferPointer) -> Int64 {
        guard var cursor = bytes.baseAddress else { return 0 }
        var remaining = bytes.count
        var count: Int64 = 0
        while remaining > 0, let hit = memchr(cursor, 0x0A, remaining) {
            count += 1
            let step = UnsafeRawPointer(hit) - cursor + 1
            cursor += step
            remaining -= step
        }
        return count
    }

    /// One zstd frame of `bytes`.
    static func compress(_ bytes: [UInt8]) -> [UInt8] {
        ZstdFrame.compress(bytes, level: level)
    }

    /// The bytes of one zstd frame (a chunk, at most `chunkSize` bytes).
    static func decompress(_ frame: [UInt8]) throws(StoreError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: chunkSize)
        let written = frame.withUnsafeBytes { source in
            out.withUnsafeMutableBytes { ZSTD_decompress($0.baseAddress, chunkSize, source.baseAddress, source.count) }
        }
        guard ZSTD_isError(written) == 0 else {
            throw .storedInput(reason: "a stored chunk does not decompress: \(String(cString: ZSTD_getErrorName(written)))")
        }
        out.removeSubrange(written...)
        return out
    }

    /// A stored input.
    public struct Input: Equatable, Sendable {
        public var id: Int64
        public var batch: Int64
        public var name: String
        public var size: Int64
        public var lines: Int64
        public var contentHash: [UInt8]
    }

    /// The inputs of `batch` (every input when nil), in the order they were read.
    public static func inputs(of batch: Int64?, in store: Store) throws(SQLiteError) -> [Input] {
        let statement = try store.database.prepare(
            "SELECT id, batch, name, size, lines, content_hash FROM input WHERE ?1 IS NULL OR batch = ?1 ORDER BY id")
        try statement.bind(1, batch)
        var inputs: [Input] = []
        while try statement.step() {
            inputs.append(Input(
                id: statement.int(0), batch: statement.int(1), name: statement.string(2), size: statement.int(3),
                lines: statement.int(4), contentHash: statement.blob(5)))
        }
        return inputs
    }

    /// Calls `body` with the bytes of `input`, chunk by chunk, in order.
    public static func forEachChunk(of input: Int64, in store: Store, _ body: ([UInt8]) throws -> Void) throws {
        let statement = try store.database.prepare("SELECT idx, data FROM input_chunk WHERE input = ? ORDER BY idx")
        try statement.bind(1, input)
        var expected: Int64 = 0
        while try statement.step() {
            guard statement.int(0) == expected else {
                throw StoreError.storedInput(reason: "input \(input) lacks chunk \(expected)")
            }
            try body(try decompress(statement.blob(1)))
            expected += 1
        }
    }

    /// The SHA-256 of the stored bytes of `input`: equal to its `content_hash` unless a chunk
    /// was changed.
    public static func storedHash(of input: Int64, in store: Store) throws -> [UInt8] {
        var hasher = SHA256()
        try forEachChunk(of: input, in: store) { bytes in bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        return Array(hasher.finalize())
    }

    /// Line `line` (from 1) of `input`, without its line break; nil past the end. Reads the
    /// chunk the line starts in and, for a line that runs on, the chunks after it.
    public static func line(_ line: Int64, of input: Int64, in store: Store) throws -> [UInt8]? {
        // A compressed input, or one with lone CR line ends, has lines its bytes' LFs do not
        // show: read it as the ingest did. A trace.dat has records, not lines.
        let byLF = try store.database.cached("SELECT lf_lines, compression FROM input WHERE id = ?")
        try byLF.bind(1, input)
        let found = try byLF.step()
        let linesAreLF = found && byLF.int(0) == 1
        let isTraceDat = found && byLF.string(1) == "trace.dat"
        byLF.reset()
        if isTraceDat { return nil }
        guard linesAreLF else { return try lineThroughReader(line, of: input, in: store) }
        return try lineFromChunks(line, of: input, in: store)
    }

    /// Line `line` as the ingest's reader saw it: the stored bytes read from the start
    /// (decompressed, CR line ends taken as line ends).
    static func lineThroughReader(_ line: Int64, of input: Int64, in store: Store) throws -> [UInt8]? {
        do {
            var bytes: [UInt8] = []
            try forEachChunk(of: input, in: store) { bytes += $0 }
            let reader = LineReader(name: "input \(input)", contents: bytes)
            var found: [UInt8]?
            while found == nil, try reader.next({ text in if Int64(reader.lineNumber) == line { found = Array(text) } }) {}
            return found
        }
    }

    /// Line `line` of a plain input, from the chunk it starts in (LF line ends).
    static func lineFromChunks(_ line: Int64, of input: Int64, in store: Store) throws -> [UInt8]? {
        // The last chunk that begins before the line does (its first byte belongs to an
        // earlier line): the line starts in it or after it.
        let start = try store.database.cached(
            "SELECT idx, first_line FROM input_chunk WHERE input = ? AND first_line < ? ORDER BY idx DESC LIMIT 1")
        defer { start.reset() }
        try start.bind(1, input)
        try start.bind(2, line)
        var index: Int64 = 0
        var current: Int64 = 1
        if try start.step() {
            index = start.int(0)
            current = start.int(1)
        }
        start.reset()
        let chunk = try store.database.cached("SELECT data FROM input_chunk WHERE input = ? AND idx = ?")
        defer { chunk.reset() }
        var text: [UInt8] = []
        var found = false
        while true {
            try chunk.bind(1, input)
            try chunk.bind(2, index)
            guard try chunk.step() else { break }
            let bytes = try decompress(chunk.blob(0))
            chunk.reset()
            for byte in bytes {
                if current == line {
                    found = true
                    if byte == 0x0A { return text.last == 0x0D ? Array(text.dropLast()) : text }
                    text.append(byte)
                } else if byte == 0x0A {
                    current += 1
                }
            }
            index += 1
        }
        return found ? (text.last == 0x0D ? Array(text.dropLast()) : text) : nil
    }
}

/// The line of a stored input an event was read from.
public struct OriginalLine: Equatable, Sendable {
    public var name: String
    public var line: Int64
    public var text: String
}

extension Store {
    /// The line event `seq` was read from, as given (nil for an event appended through the
    /// library, or one from a compressed input, whose lines are not cut into chunks).
    public func originalLine(of seq: Int64) throws -> OriginalLine? {
        let statement = try database.cached("SELECT e.input, e.input_line, i.name FROM event e JOIN input i ON i.id = e.input WHERE e.seq = ?")
        defer { statement.reset() }
        try statement.bind(1, seq)
        guard try statement.step() else { return nil }
        let (input, line, name) = (statement.int(0), statement.int(1), statement.string(2))
        statement.reset()
        guard let bytes = try InputArchive.line(line, of: input, in: self) else { return nil }
        return OriginalLine(name: name, line: line, text: String(decoding: bytes, as: UTF8.self))
    }
}

