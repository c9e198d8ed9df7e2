import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// One input `watch` follows, read without blocking as its lines arrive: a regular file followed
/// like `tail -F` (a file renamed away is read to its end and the new file at the path taken up,
/// a truncated file is read again from its start), or a stream (standard input, a FIFO, a
/// tracefs `trace_pipe`) whose bytes can be read only once.
///
/// A line is taken when its line end arrives (LF, or CRLF: the CR belongs to the line end); an
/// unterminated tail waits for the rest. Bytes are taken as given: a compressed file is not
/// followed (`ingest` reads those).
public final class FollowedInput {
    /// How the input can be read again.
    public enum Kind: String, Sendable {
        /// A regular file: its bytes stay, so a restart continues at a byte offset.
        case file
        /// Standard input, a FIFO or `trace_pipe`: what was read is gone from it.
        case stream
    }

    /// One line as read, with its line end.
    public struct Line {
        /// The bytes of the line and its line end, as given.
        public var raw: [UInt8]
        /// The line's number in its file, from 1.
        public var number: UInt64
        /// The length of the line end (0, 1 or 2).
        public var terminatorLength: Int

        /// The line without its line end.
        public var content: ArraySlice<UInt8> { raw[..<(raw.count - terminatorLength)] }
    }

    /// The name its events are kept under (`src.file`): the path as given, `<stdin>`, `tracefs`.
    public let name: String
    /// The path followed (nil for standard input and tracefs, which are opened by their owner).
    public let path: String?
    public let kind: Kind

    /// The descriptor read from (non-blocking).
    public private(set) var descriptor: Int32
    /// The device and inode of the file being read (0 for streams).
    public private(set) var device: UInt64 = 0
    public private(set) var inode: UInt64 = 0
    /// The byte offset just after the last whole line read from the current file.
    public private(set) var offset: UInt64 = 0
    /// The number of the last whole line read from the current file.
    public private(set) var lineNumber: UInt64 = 0
    /// True once a stream has ended (standard input closed); files and FIFOs never end.
    public private(set) var ended = false
    /// Monotonic nanoseconds of the last byte read.
    public private(set) var lastArrival: UInt64 = 0
    /// Files taken up after a rotation or a truncation, for the summary.
    public private(set) var rotations = 0
    /// Bytes of an unterminated last line dropped when its file was rotated away or truncated.
    public private(set) var droppedTail = 0

    /// Set when the current file was renamed away or replaced: read it to its end, then take up
    /// the file now at `path`.
    private var rotatedAway = false
    /// Bytes read after the last line end.
    private var partial: [UInt8] = []
    private var lastRotationCheck: UInt64 = 0
    /// Called when a file is left for another (rotation, truncation): lines of the new file
    /// follow, numbered from 1.
    public var onNewFile: ((FollowedInput) -> Void)?

    /// Follows the regular file or FIFO at `path` (a FIFO is opened read-write, so that it never
    /// reports an end when its writer closes: the next writer's lines are followed too).
    public init(path: String) throws(StoreError) {
        self.name = path
        self.path = path
        var info = stat()
        guard stat(path, &info) == 0 else { throw .unreadableInput(path: path, reason: String(cString: strerror(errno))) }
        let type = info.st_mode & S_IFMT
        if type == S_IFREG {
            kind = .file
            descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        } else if type == S_IFIFO || type == S_IFCHR || type == S_IFSOCK {
            kind = .stream
            descriptor = open(path, (type == S_IFIFO ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK)
        } else {
            throw .unreadableInput(path: path, reason: type == S_IFDIR ? "it is a directory" : "it is neither a regular file nor a stream")
        }
        guard descriptor >= 0 else { throw .unreadableInput(path: path, reason: String(cString: strerror(errno))) }
        if kind == .file { identify() }
    }

    /// Reads the stream `descriptor` (standard input, an opened `trace_pipe`) as `name`; the
    /// descriptor is made non-blocking and closed with the input.
    public init(stream descriptor: Int32, name: String) {
        self.name = name
        self.path = nil
        self.kind = .stream
        self.descriptor = descriptor
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
    }

    deinit { finish() }

    /// Closes the descriptor (a tracefs instance can be removed only once its `trace_pipe` is
    /// closed); nothing is read after it.
    public func finish() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        ended = true
    }

    private func identify() {
        var info = stat()
        if fstat(descriptor, &info) == 0 {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    /// Continues the current file at `offset`, after line `line` (a checkpoint whose file this is).
    public func resume(offset: UInt64, line: UInt64) {
        precondition(kind == .file, "only a file is resumed at an offset")
        _ = lseek(descriptor, off_t(offset), SEEK_SET)
        self.offset = offset
        self.lineNumber = line
        partial.removeAll()
    }

    /// Reads the file that was at the path, now found as `sibling` (renamed by a rotation while
    /// nothing followed it), from `offset`; the file at the path is taken up after its end.
    public func resumeRotated(sibling: String, offset: UInt64, line: UInt64) throws(StoreError) {
        let old = open(sibling, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard old >= 0 else { throw .unreadableInput(path: sibling, reason: String(cString: strerror(errno))) }
        close(descriptor)
        descriptor = old
        identify()
        resume(offset: offset, line: line)
        rotatedAway = true
    }

    /// Reads what is there now, without blocking, and hands each whole line to `body`; returns
    /// the number of bytes read. A file at its end is checked for rotation and truncation (at
    /// most every `rotationCheckInterval` ns), a stream for its end.
    public func poll(now: UInt64, _ body: (Line) throws -> Void) throws -> Int {
        var total = 0
        let chunk = 64 << 10
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, chunk) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                throw StoreError.unreadableInput(path: name, reason: String(cString: strerror(errno)))
            }
            if count == 0 {
                if kind == .stream { ended = true }
                break
            }
            total += count
            lastArrival = now
            try take(buffer[..<count], body)
            if total >= 1 << 20 { return total }  // let the others have their turn
        }
        if kind == .file, total == 0, now &- lastRotationCheck >= Self.rotationCheckInterval {
            lastRotationCheck = now
            try checkRotation(body)
        }
        return total
    }

    /// How often a file at its end is compared with what its path now names: 50 ms.
    public static let rotationCheckInterval: UInt64 = 50_000_000

    private func take(_ bytes: ArraySlice<UInt8>, _ body: (Line) throws -> Void) throws {
        var start = bytes.startIndex
        var index = start
        let end = bytes.endIndex
        while index < end {
            guard let lf = bytes[index..<end].firstIndex(of: 0x0A) else { break }
            var raw: [UInt8]
            if partial.isEmpty {
                raw = Array(bytes[start...lf])
            } else {
                raw = partial
                raw.append(contentsOf: bytes[start...lf])
                partial.removeAll(keepingCapacity: true)
            }
            let terminator = raw.count >= 2 && raw[raw.count - 2] == 0x0D ? 2 : 1
            lineNumber += 1
            offset += UInt64(raw.count)
            try body(Line(raw: raw, number: lineNumber, terminatorLength: terminator))
            start = lf + 1
            index = start
        }
        if start < end { partial.append(contentsOf: bytes[start..<end]) }
    }

    /// At the end of a file: a file renamed away (another inode at the path) is left for the new
    /// one; a file shorter than what was read was truncated (copytruncate) and is read again
    /// from its start.
    private func checkRotation(_ body: (Line) throws -> Void) throws {
        guard let path else { return }
        var current = stat()
        if fstat(descriptor, &current) == 0, UInt64(current.st_size) < offset + UInt64(partial.count) {
            droppedTail += partial.count
            partial.removeAll()
            _ = lseek(descriptor, 0, SEEK_SET)
            offset = 0
            lineNumber = 0
            rotations += 1
            onNewFile?(self)
            return
        }
        var named = stat()
        guard stat(path, &named) == 0 else { return }  // gone: keep the old one until a new file appears
        if UInt64(named.st_dev) == device && UInt64(named.st_ino) == inode { return }
        let next = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard next >= 0 else { return }
        droppedTail += partial.count
        partial.removeAll()
        close(descriptor)
        descriptor = next
        identify()
        offset = 0
        lineNumber = 0
        rotatedAway = false
        rotations += 1
        onNewFile?(self)
    }

    /// The SHA-256 of the first `length` bytes of the current file, read with `pread`; nil when
    /// it is shorter. Checks that a checkpoint's file still holds what was read of it.
    public func hashOfPrefix(_ length: UInt64) -> [UInt8]? {
        FollowedInput.hashOfPrefix(descriptor: descriptor, length: length)
    }

    static func hashOfPrefix(descriptor: Int32, length: UInt64) -> [UInt8]? {
        prefixHasher(descriptor: descriptor, length: length).map { Array($0.finalize()) }
    }

    /// A SHA-256 that has read the first `length` bytes of the file, to go on with what follows;
    /// nil when the file is shorter.
    static func prefixHasher(descriptor: Int32, length: UInt64) -> SHA256? {
        var hasher = SHA256()
        var offset: UInt64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while offset < length {
            let want = Int(min(UInt64(buffer.count), length - offset))
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, want, off_t(offset)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return nil }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            offset += UInt64(count)
        }
        return hasher
    }

    /// The size of the current file (0 for a stream).
    public var fileSize: UInt64 {
        guard kind == .file else { return 0 }
        var info = stat()
        return fstat(descriptor, &info) == 0 ? UInt64(info.st_size) : 0
    }

    /// True when a file has been read to its end, with no unterminated line left.
    public var isAtEndOfFile: Bool { kind == .file && partial.isEmpty && !rotatedAway && fileSize == offset }
}

/// CLOCK_MONOTONIC in nanoseconds.
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
