#if canImport(Glibc)
import Glibc
#endif

/// A private copy of a store file and its `-wal`, for `--immutable` reads of a store whose
/// WAL still holds committed batches. SQLite's `immutable=1` reads the main file alone: the
/// batches a checkpoint had not yet written back would silently be missing, and the log would
/// look shorter than it is. Folding the WAL in needs a `-shm` index beside it, which read-only
/// media cannot hold, so both files are copied to a fresh directory under `$TMPDIR` (mode
/// 0700) and read there; the original is only ever read. The directory is removed when the
/// store closes.
final class StoreWALCopy {
    /// The copy of the store file; its `-wal` lies beside it.
    let path: String
    private let directory: String

    /// True when a `-wal` beside `path` holds at least one frame (it is longer than its
    /// 32-byte header): then the main file alone may lack committed batches.
    static func walHasFrames(_ path: String) -> Bool {
        var info = stat()
        return stat(path + "-wal", &info) == 0 && info.st_size > 32
    }

    /// Copies `original` and its `-wal`.
    init(of original: String) throws(StoreError) {
        let base = ProcessEnvironment.temporaryDirectory
        var template = Array((base + "/gmem-immutable-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .walNotFolded(path: original, reason: "cannot make a directory in '\(base)': \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        path = directory + "/gmem.db"
        do throws(StoreError) {
            // As for any --immutable read, nothing may write the original meanwhile.
            try Self.copyStoreFile(original, to: path)
            // SQLite takes no POSIX lock on a `-wal` (a WAL store's locks are on its `-shm`),
            // so closing a descriptor of it drops none.
            try Self.copy(original + "-wal", to: path + "-wal", original: original)
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    private func remove() {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
        rmdir(directory)
    }

    /// Copies the store file `original` to a new file `target`, reading it through SQLite's
    /// VFS: a plain close of it would drop the locks of every connection this process has open
    /// on it (StoreFileReader).
    private static func copyStoreFile(_ original: String, to target: String) throws(StoreError) {
        guard let input = StoreFileReader(path: original), let size = input.size else {
            throw .walNotFolded(path: original, reason: "cannot read '\(original)'")
        }
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw .walNotFolded(path: original, reason: "cannot create '\(target)': \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var offset: Int64 = 0
        while offset < size {
            guard let chunk = input.read(count: 1 << 20, at: offset) else { throw .walNotFolded(path: original, reason: "cannot read '\(original)'") }
            if chunk.isEmpty { return }
            try write(chunk, to: output, target: target, original: original)
            offset += Int64(chunk.count)
        }
    }

    /// Writes all of `bytes` to the descriptor `output`.
    private static func write(_ bytes: [UInt8], to output: Int32, target: String, original: String) throws(StoreError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(output, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .walNotFolded(path: original, reason: "cannot write '\(target)': \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// Copies the bytes of `source` to a new file `target`.
    private static func copy(_ source: String, to target: String, original: String) throws(StoreError) {
        func failure(_ what: String) -> StoreError {
            .walNotFolded(path: original, reason: "\(what): \(String(cString: strerror(errno)))")
        }
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw failure("cannot read '\(source)'") }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw failure("cannot create '\(target)'") }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read '\(source)'")
            }
            if count == 0 { return }
            try write(Array(buffer[..<count]), to: output, target: target, original: original)
        }
    }
}

/// What the process's environment says about where scratch files go.
enum ProcessEnvironment {
    /// `$TMPDIR` when set and not empty, else `/tmp`.
    static var temporaryDirectory: String {
        if let value = getenv("TMPDIR"), value.pointee != 0 {
            var text = String(cString: value)
            while text.count > 1, text.hasSuffix("/") { text.removeLast() }
            return text
        }
        return "/tmp"
    }
}
