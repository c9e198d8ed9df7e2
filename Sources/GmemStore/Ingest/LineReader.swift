import CZlib
import CZstd
import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// Reads an input (a file, standard input, a pipe, a FIFO, `/dev/fd/N` of a process
/// substitution, or bytes in memory) line by line, in bounded memory, opening it once and
/// reading it once from its start.
///
/// - **Compression**: an input that starts with the gzip (`1f 8b`) or zstd (`28 b5 2f fd`)
///   magic bytes is decompressed as it is read, whatever its name; concatenated gzip members
///   and zstd frames are read one after another. A stream that ends inside a member or frame,
///   or whose bytes do not decompress, is refused (`StoreError.decode`).
/// - **Line ends**: LF, CRLF and a lone CR each end a line (a trace saved with CR-only line ends
///   reads as its lines, not as one).
/// - **Line length**: a line longer than `maxLineLength` bytes (1 MiB unless set) is never
///   held whole: its first `maxLineLength` bytes are kept, the rest is read past in chunks and
///   dropped. By default (`refusesLongLines`) such a line throws `file:line: line longer than
///   …`; a caller that clears it gets the cut line with `lineWasCut` set and decides.
/// - **Hash**: `contentHash` is the SHA-256 of the bytes *as given* (compressed, when they
///   are), and `rawObserver` sees the same bytes, chunk by chunk, as they are read.
///
/// Memory: a 64 KiB read buffer, a line buffer that grows to at most `maxLineLength + 1`
/// bytes, and for zstd the frame's window (at most 128 MiB, zstd's own default limit; the
/// usual levels use 1–8 MiB).
public final class LineReader {
    /// How the bytes as given are encoded.
    public enum Compression: String, Sendable {
        case none, gzip, zstd
    }

    /// The longest line kept whole, in bytes without its line end: 1 MiB.
    public static let defaultMaxLineLength = 1 << 20

    /// The name the input is known by: the path as given, `<stdin>` for `-`.
    public let name: String
    /// The longest line, in bytes without its line end; see the type's notes.
    public var maxLineLength = LineReader.defaultMaxLineLength {
        didSet { precondition(maxLineLength > 0 && lineNumber == 0, "the line limit is set before the first line") }
    }
    /// Throw on a line longer than `maxLineLength` (the default), rather than hand it over cut.
    public var refusesLongLines = true
    /// Called with every chunk of bytes as read from the input, before any decompression, in
    /// order and exactly once each: together they are the input as given, whose SHA-256 is
    /// `contentHash`. Set it before the first line is read.
    public var rawObserver: ((UnsafeRawBufferPointer) -> Void)? {
        didSet { precondition(rawBytesRead == 0, "the raw observer is set before the input is read") }
    }

    /// The number of the line last returned, from 1.
    public private(set) var lineNumber: UInt64 = 0
    /// Where the line last returned starts in the logical stream (the decompressed bytes of a
    /// compressed input, else the bytes as given), in bytes from 0.
    public private(set) var lineOffset: UInt64 = 0
    /// False when the line last returned had no line end: the input ended inside it, as when
    /// a trace is copied while it is written.
    public private(set) var lineWasTerminated = true
    /// True when the line last returned was longer than `maxLineLength` and is handed over
    /// cut to its first `maxLineLength` bytes (only with `refusesLongLines` off).
    public private(set) var lineWasCut = false
    /// The bytes read from the input so far, as given (compressed, when it is).
    public var bytesRead: UInt64 { rawBytesRead }
    /// The compression found from the input's first bytes; `.none` until they are read.
    public private(set) var compression = Compression.none
    /// True when the input is a regular file (not a pipe, FIFO, terminal or memory).
    public let isRegularFile: Bool
    /// True when the input's first bytes are trace-cmd's trace.dat magic (`\x17\x08\x44tracing`):
    /// it is not read as lines but handed whole to libtracecmd (`traceDatDescriptor()`).
    public private(set) var isTraceDat = false
    /// Where a regular file stood when it was opened (standard input need not be at 0).
    private var startOffset: off_t = 0

    private enum Input {
        case descriptor(Int32)
        case memory([UInt8], position: Int)
    }

    private var input: Input
    private var hasher = SHA256()
    private var rawBytesRead: UInt64 = 0
    /// The logical bytes not yet handed over: `buffer[start..<end]`, the first at logical
    /// offset `consumed`.
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var start = 0
    private var end = 0
    private var consumed: UInt64 = 0
    /// How far from `start` a line end was already looked for.
    private var scanned = 0
    private var logicalEnd = false
    private var started = false
    /// The rest of a cut line is still to be dropped.
    private var dropping = false
    /// The line last returned ended with a CR: an LF right after it belongs to that line end.
    private var afterCR = false
    private var decoder: Decoder?

    private static let chunk = 64 << 10

    /// Opens `path`; `-` is standard input. The path is opened once and read once from its
    /// start (for `-`, from where standard input stands).
    public init(path: String) throws(StoreError) {
        let descriptor: Int32
        if path == "-" {
            name = "<stdin>"
            descriptor = dup(STDIN_FILENO)
        } else {
            name = path
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
        }
        guard descriptor >= 0 else { throw .unreadableInput(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw .unreadableInput(path: path, reason: reason)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            close(descriptor)
            throw .unreadableInput(path: path, reason: "it is a directory")
        }
        isRegularFile = (info.st_mode & S_IFMT) == S_IFREG
        if isRegularFile { startOffset = lseek(descriptor, 0, SEEK_CUR) }
        input = .descriptor(descriptor)
        capacity = Self.chunk
        buffer = .allocate(capacity: capacity)
    }

    /// Reads `contents` as if it were a file called `name` (embedded scenarios, fuzzing).
    public init(name: String, contents: [UInt8]) {
        self.name = name
        input = .memory(contents, position: 0)
        isRegularFile = false
        capacity = Self.chunk
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        buffer.deallocate()
        if case .descriptor(let descriptor) = input { close(descriptor) }
    }

    /// The SHA-256 of every byte read so far, as given.
    public var contentHash: [UInt8] { Array(hasher.finalize()) }

    /// The bytes of a regular file from where it stands to its end (those `hashOfWholeFile`
    /// would hash); nil for anything else or once reading has started.
    public func sizeOfWholeFile() -> Int64? {
        guard isRegularFile, !started, case .descriptor(let descriptor) = input else { return nil }
        let offset = lseek(descriptor, 0, SEEK_CUR)
        var status = stat()
        guard offset >= 0, fstat(descriptor, &status) == 0 else { return nil }
        return Int64(status.st_size) - Int64(offset)
    }

    /// The SHA-256 of the whole of a regular file, from where it stands to its end, read with
    /// `pread` in one pass without moving the read position; nil for anything else (a pipe, a
    /// FIFO, memory) or once reading has started. Lets an ingest ask the store whether it
    /// holds this input before reading a line of it.
    public func hashOfWholeFile() throws(StoreError) -> [UInt8]? {
        guard isRegularFile, !started, case .descriptor(let descriptor) = input else { return nil }
        var offset = lseek(descriptor, 0, SEEK_CUR)
        guard offset >= 0 else { return nil }
        var hasher = SHA256()
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count = pread(descriptor, chunk.baseAddress, chunk.count, offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadableInput(path: name, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: chunk[..<count]))
            offset += off_t(count)
        }
        return Array(hasher.finalize())
    }

    /// Calls `body` with the next line's bytes (without its line end), or returns false at
    /// the end of the input.
    public func next(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        if dropping { try dropRestOfLine() }
        if afterCR {
            afterCR = false
            if start == end { try fill() }
            if start < end, buffer[start] == 0x0A { consume(1) }
        }
        while true {
            if let index = lineEnd() {
                let length = index - start
                let cut = length > maxLineLength
                deliverStart(terminated: true, cut: cut)
                if cut, refusesLongLines { throw longLine() }
                if buffer[index] == 0x0D { afterCR = true }
                let line = UnsafeBufferPointer(start: buffer + start, count: min(length, maxLineLength))
                consume(length + 1)
                try body(line)
                return true
            }
            if end - start > maxLineLength {
                deliverStart(terminated: true, cut: true)
                if refusesLongLines { throw longLine() }
                dropping = true
                let line = UnsafeBufferPointer(start: buffer + start, count: maxLineLength)
                consume(maxLineLength)
                try body(line)
                return true
            }
            if logicalEnd {
                guard end > start else { return false }
                let length = end - start
                deliverStart(terminated: false, cut: false)
                let line = UnsafeBufferPointer(start: buffer + start, count: length)
                consume(length)
                try body(line)
                return true
            }
            try fill()
        }
    }

    /// The error for a line longer than the limit, at the line last returned.
    public func longLine() -> StoreError {
        .decode(file: name, line: lineNumber, message: longLineMessage)
    }

    /// What is wrong with a line longer than the limit.
    public var longLineMessage: String {
        "line longer than the limit of \(maxLineLength) bytes (\(Self.sizeText(maxLineLength)))"
    }

    static func sizeText(_ bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : bytes % 1024 == 0 ? "\(bytes >> 10) KiB" : "\(bytes) bytes"
    }

    private func deliverStart(terminated: Bool, cut: Bool) {
        lineNumber += 1
        lineOffset = consumed
        lineWasTerminated = terminated
        lineWasCut = cut
    }

    private func consume(_ count: Int) {
        start += count
        consumed += UInt64(count)
        scanned = 0
    }

    /// The index of the first LF or CR in `buffer[start..<end]`, looking only past what was
    /// looked at before.
    private func lineEnd() -> Int? {
        let from = start + scanned
        let count = end - from
        guard count > 0 else { return nil }
        var found: Int?
        if let lf = memchr(buffer + from, 0x0A, count) {
            found = UnsafeMutablePointer<UInt8>(lf.assumingMemoryBound(to: UInt8.self)) - buffer
        }
        if let cr = memchr(buffer + from, 0x0D, (found ?? end) - from) {
            found = UnsafeMutablePointer<UInt8>(cr.assumingMemoryBound(to: UInt8.self)) - buffer
        }
        if found == nil { scanned = end - start }
        return found
    }

    /// Reads past the rest of a cut line, in chunks, to its line end.
    private func dropRestOfLine() throws {
        while true {
            if let index = lineEnd() {
                if buffer[index] == 0x0D { afterCR = true }
                consume(index - start + 1)
                dropping = false
                return
            }
            consume(end - start)
            if logicalEnd {
                dropping = false
                return
            }
            try fill()
        }
    }

    /// Reads more logical bytes after `buffer[start..<end]`, moving them to the front and
    /// growing the buffer (to at most `maxLineLength + 1`) when there is no room.
    private func fill() throws {
        guard !logicalEnd else { return }
        if start > 0 {
            if end > start { memmove(buffer, buffer + start, end - start) }
            end -= start
            start = 0
        }
        if end == capacity {
            let wanted = min(max(capacity * 2, Self.chunk), maxLineLength + 1)
            precondition(wanted > capacity, "a full buffer holds a line end or a line past the limit")
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: wanted)
            grown.update(from: buffer, count: end)
            buffer.deallocate()
            buffer = grown
            capacity = wanted
        }
        if !started {
            started = true
            let before = end
            try startReading()
            if decoder == nil {
                if end == before { logicalEnd = true }
                return
            }
        }
        let room = UnsafeMutableRawBufferPointer(start: buffer + end, count: capacity - end)
        let count: Int
        if let decoder {
            count = try decoder.decode(into: room, more: { try self.readRaw() }, file: name, line: lineNumber + 1)
        } else {
            count = try readRaw(into: room)
        }
        if count == 0 { logicalEnd = true }
        end += count
    }

    /// Looks at the input's first bytes for a compression's magic number.
    private func startReading() throws {
        var head = [UInt8](repeating: 0, count: 4)
        var have = 0
        while have < 4 {
            let count = try head.withUnsafeMutableBytes { try readRaw(into: UnsafeMutableRawBufferPointer(rebasing: $0[have...])) }
            if count == 0 { break }
            have += count
        }
        var bytes = Array(head[..<have])
        if have == 4, Array(bytes.prefix(4)) == Array(TraceDatReader.magic.prefix(4)) {
            // Maybe trace-cmd's trace.dat: its magic is 10 bytes.
            var rest = [UInt8](repeating: 0, count: TraceDatReader.magic.count - 4)
            var got = 0
            while got < rest.count {
                let count = try rest.withUnsafeMutableBytes { try readRaw(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
                if count == 0 { break }
                got += count
            }
            bytes += rest[..<got]
            isTraceDat = bytes == TraceDatReader.magic
        }
        if have >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B {
            compression = .gzip
            decoder = try Decoder(gzipFile: name)
        } else if have >= 4, bytes == [0x28, 0xB5, 0x2F, 0xFD] {
            compression = .zstd
            decoder = try Decoder(zstdFile: name)
        }
        if let decoder {
            decoder.pending = bytes
        } else {
            for byte in bytes {
                buffer[end] = byte
                end += 1
            }
            if bytes.count < 4 || (bytes.count < TraceDatReader.magic.count && have == 4 && bytes.count > 4) { startedShort = true }
        }
    }

    /// Looks at the input's first bytes (for a compression's or trace.dat's magic) without
    /// taking a line; does nothing once they have been read.
    public func peek() throws {
        guard !started else { return }
        started = true
        let before = end
        try startReading()
        if decoder == nil, end == before { logicalEnd = true }
    }

    /// A trace.dat input as a descriptor libtracecmd can read and seek, positioned at its
    /// first byte, for the caller to close. Every byte is read through this reader first, so
    /// that its hash and the stored copy (`rawObserver`) are of the whole input as for any
    /// other: a regular file opened at its start is then given as itself (a new descriptor of
    /// the same open file); anything else (a pipe, a FIFO, standard input not at its start,
    /// bytes in memory) is spooled to an unlinked temporary file in `$TMPDIR` (else /tmp),
    /// which takes as much disk as the input.
    public func traceDatDescriptor() throws(StoreError) -> Int32 {
        precondition(isTraceDat && start == 0 && consumed == 0, "a trace.dat is taken whole, before any line")
        var spool: Int32 = -1
        var direct: Int32 = -1
        if isRegularFile, startOffset == 0, case .descriptor(let descriptor) = input {
            direct = descriptor
        } else {
            var template = Array(((getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp") + "/gmem-tracedat.XXXXXX").utf8CString)
            spool = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            if spool >= 0 { _ = fcntl(spool, F_SETFD, FD_CLOEXEC) }
            guard spool >= 0 else {
                throw .unreadableInput(path: name, reason: "cannot make a temporary file to spool the trace.dat to (libtracecmd reads only a seekable file): \(String(cString: strerror(errno)))")
            }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        }
        func write(_ bytes: UnsafeRawBufferPointer) throws(StoreError) {
            guard spool >= 0 else { return }
            var offset = 0
            while offset < bytes.count {
                let count = Glibc.write(spool, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else {
                    let reason = String(cString: strerror(errno))
                    close(spool)
                    throw .unreadableInput(path: name, reason: "cannot spool the trace.dat to a temporary file: \(reason)")
                }
                offset += count
            }
        }
        try write(UnsafeRawBufferPointer(start: buffer + start, count: end - start))
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunk, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count: Int
            do { count = try readRaw(into: chunk) } catch let error as StoreError {
                if spool >= 0 { close(spool) }
                throw error
            } catch {
                if spool >= 0 { close(spool) }
                throw .unreadableInput(path: name, reason: "\(error)")
            }
            if count == 0 { break }
            try write(UnsafeRawBufferPointer(rebasing: chunk[..<count]))
        }
        consume(end - start)
        logicalEnd = true
        let handed = spool >= 0 ? spool : fcntl(direct, F_DUPFD_CLOEXEC, 0)
        guard handed >= 0, lseek(handed, 0, SEEK_SET) == 0 else {
            let reason = String(cString: strerror(errno))
            if handed >= 0 { close(handed) }
            throw .unreadableInput(path: name, reason: reason)
        }
        return handed
    }

    /// The input ended within its first 4 bytes: nothing more to read.
    private var startedShort = false

    /// Reads up to a chunk of raw bytes into `room`, hashing them and showing them to the
    /// observer; 0 at the end of the input.
    private func readRaw(into room: UnsafeMutableRawBufferPointer) throws -> Int {
        if startedShort { return 0 }
        let count: Int
        switch input {
        case .descriptor(let descriptor):
            var got: Int
            repeat {
                got = read(descriptor, room.baseAddress, room.count)
            } while got < 0 && errno == EINTR
            guard got >= 0 else { throw StoreError.unreadableInput(path: name, reason: String(cString: strerror(errno))) }
            count = got
        case .memory(let contents, let position):
            count = min(room.count, contents.count - position)
            guard count > 0 else { return 0 }
            contents.withUnsafeBytes { room.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: count) }
            input = .memory(contents, position: position + count)
        }
        guard count > 0 else { return 0 }
        let chunk = UnsafeRawBufferPointer(start: room.baseAddress, count: count)
        hasher.update(bufferPointer: chunk)
        rawBytesRead += UInt64(count)
        rawObserver?(chunk)
        return count
    }

    /// The next chunk of raw bytes, for a decoder; empty at the end of the input.
    private func readRaw() throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: Self.chunk)
        let count = try chunk.withUnsafeMutableBytes { try readRaw(into: $0) }
        chunk.removeLast(chunk.count - count)
        return chunk
    }
}

/// Decompresses gzip or zstd, pulling raw bytes as it needs them.
private final class Decoder {
    /// Raw bytes read but not yet decompressed.
    var pending: [UInt8] = []
    private var pendingStart = 0
    private var rawEnded = false
    private let kind: LineReader.Compression
    private var zlib = z_stream()
    private var zstd: OpaquePointer?
    /// True between the end of one gzip member or zstd frame and the start of the next.
    private var atBoundary = true

    init(gzipFile name: String) throws(StoreError) {
        kind = .gzip
        guard gmem_inflate_init(&zlib) == Z_OK else {
            throw .unreadableInput(path: name, reason: "cannot start zlib's inflate")
        }
    }

    init(zstdFile name: String) throws(StoreError) {
        kind = .zstd
        guard let context = ZSTD_createDCtx() else { throw .unreadableInput(path: name, reason: "cannot start zstd") }
        zstd = context
    }

    deinit {
        if kind == .gzip { inflateEnd(&zlib) }
        if let zstd { ZSTD_freeDCtx(zstd) }
    }

    /// Decompresses into `room`; 0 only at the end of the input, after a whole last member or
    /// frame.
    func decode(
        into room: UnsafeMutableRawBufferPointer, more: () throws -> [UInt8], file: String, line: UInt64
    ) throws -> Int {
        func corrupt(_ what: String) -> StoreError {
            .decode(file: file, line: line, message: "the \(kind == .gzip ? "gzip" : "zstd") stream \(what)")
        }
        while true {
            if pendingStart == pending.count, !rawEnded {
                pending = try more()
                pendingStart = 0
                if pending.isEmpty { rawEnded = true }
            }
            if pendingStart == pending.count, rawEnded {
                guard atBoundary else { throw corrupt("ends inside a \(kind == .gzip ? "member" : "frame") (cut short?)") }
                return 0
            }
            let before = pendingStart
            let produced: Int = try pending.withUnsafeMutableBytes { raw throws -> Int in
                let available = raw.count - pendingStart
                let input = raw.baseAddress! + pendingStart
                switch kind {
                case .gzip:
                    if atBoundary, pendingStart > 0 || rawBytesSeen {
                        guard inflateReset(&zlib) == Z_OK else { throw corrupt("cannot be reset") }
                    }
                    rawBytesSeen = true
                    atBoundary = false
                    zlib.next_in = input.assumingMemoryBound(to: Bytef.self)
                    zlib.avail_in = uInt(available)
                    zlib.next_out = room.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    zlib.avail_out = uInt(room.count)
                    let status = inflate(&zlib, Z_NO_FLUSH)
                    pendingStart += available - Int(zlib.avail_in)
                    let count = room.count - Int(zlib.avail_out)
                    switch status {
                    case Z_STREAM_END: atBoundary = true
                    case Z_OK, Z_BUF_ERROR: break
                    default:
                        let message = zlib.msg.map { String(cString: $0) } ?? "error \(status)"
                        throw corrupt("does not inflate: \(message)")
                    }
                    return count
                case .zstd:
                    var inBuffer = ZSTD_inBuffer(src: input, size: available, pos: 0)
                    var outBuffer = ZSTD_outBuffer(dst: room.baseAddress, size: room.count, pos: 0)
                    let status = ZSTD_decompressStream(zstd, &outBuffer, &inBuffer)
                    if ZSTD_isError(status) != 0 {
                        throw corrupt("does not decompress: \(String(cString: ZSTD_getErrorName(status)))")
                    }
                    pendingStart += inBuffer.pos
                    atBoundary = status == 0
                    return outBuffer.pos
                default:
                    return 0
                }
            }
            if produced > 0 { return produced }
            if pendingStart == before, !atBoundary { throw corrupt("makes no progress") }
        }
    }

    private var rawBytesSeen = false
}
