#if canImport(Glibc)
import Glibc
#endif

/// Reads an input file (or standard input) line by line in constant memory, hashing every
/// byte it reads so that a batch knows the SHA-256 of its input.
public final class LineReader {
    public let name: String
    private let file: UnsafeMutablePointer<FILE>
    private let ownsFile: Bool
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0
    private var hasher = SHA256()
    /// The number of the line last returned, from 1.
    public private(set) var lineNumber: UInt64 = 0
    /// False when the line last returned had no line break: the input ended inside it, as when
    /// a trace is copied while it is written.
    public private(set) var lineWasTerminated = true
    /// The number of bytes read so far.
    public private(set) var bytesRead: UInt64 = 0

    /// Opens `path`; `-` is standard input.
    public init(path: String) throws(StoreError) {
        if path == "-" {
            name = "<stdin>"
            guard let handle = fdopen(dup(STDIN_FILENO), "rb") else {
                throw .unreadableInput(path: path, reason: String(cString: strerror(errno)))
            }
            file = handle
            ownsFile = true
        } else {
            guard let handle = fopen(path, "rb") else {
                throw .unreadableInput(path: path, reason: String(cString: strerror(errno)))
            }
            var info = stat()
            if fstat(fileno(handle), &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                fclose(handle)
                throw .unreadableInput(path: path, reason: "it is a directory")
            }
            name = path
            file = handle
            ownsFile = true
        }
    }

    /// Reads `contents` as if it were a file called `name` (embedded scenarios).
    public init(name: String, contents: [UInt8]) {
        self.name = name
        memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(contents.count, 1), alignment: 1)
        memory!.copyBytes(from: contents)
        file = fmemopen(memory!.baseAddress, contents.count, "rb")
        ownsFile = true
    }

    private var memory: UnsafeMutableRawBufferPointer?

    deinit {
        memory?.deallocate()
        free(buffer)
        if ownsFile { fclose(file) }
    }

    /// Calls `body` with the next line's bytes (without the line break), or returns false at
    /// the end of the input.
    public func next(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        let count = getline(&buffer, &capacity, file)
        guard count >= 0, let buffer else {
            if ferror(file) != 0 { throw StoreError.unreadableInput(path: name, reason: String(cString: strerror(errno))) }
            return false
        }
        lineNumber += 1
        bytesRead += UInt64(count)
        let raw = UnsafeRawBufferPointer(start: buffer, count: count)
        hasher.update(bufferPointer: raw)
        var length = count
        lineWasTerminated = length > 0 && buffer[length - 1] == 0x0A
        if lineWasTerminated { length -= 1 }
        if length > 0, buffer[length - 1] == 0x0D { length -= 1 }
        try body(UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count: length))
        return true
    }

    /// The SHA-256 of every byte read so far.
    public var contentHash: [UInt8] { Array(hasher.finalize()) }
}
