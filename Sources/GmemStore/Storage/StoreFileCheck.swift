#if canImport(Glibc)
import Glibc
#endif

extension Store {
    /// Refuses a store file that is shorter than its own header says, or not a whole number of
    /// pages: a copy cut short. SQLite reads the missing tail as zeros and may answer from the
    /// pages that are left, so the cut would otherwise go unnoticed until a query reaches it.
    ///
    /// Checked only when no WAL with frames lies beside the file: a WAL can hold pages a
    /// checkpoint had not yet written back, and SQLite applies it on open. The header's page
    /// count is used only when SQLite marks it valid (the change counter at byte 24 equals the
    /// version-valid-for number at byte 92), as the file format requires.
    static func checkWholeFile(_ path: String) throws(StoreError) {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size >= 100 else { return }
        var walInfo = stat()
        if stat(path + "-wal", &walInfo) == 0, walInfo.st_size > 32 { return }
        // Through SQLite's VFS: a plain close of the file would drop the locks of every
        // connection this process has open on it (StoreFileReader).
        guard let file = StoreFileReader(path: path), let header = file.read(count: 100, at: 0), header.count == 100,
            header.starts(with: Array("SQLite format 3\0".utf8))
        else { return }
        func bigEndian(_ offset: Int, _ count: Int) -> Int64 {
            header[offset..<offset + count].reduce(0) { $0 << 8 | Int64($1) }
        }
        let pageSize = bigEndian(16, 2) == 1 ? 65536 : bigEndian(16, 2)
        guard pageSize >= 512 else { return }
        let size = Int64(info.st_size)
        if size % pageSize != 0 {
            throw .notAStore(path: path, reason: "it is \(size) bytes, not a whole number of \(pageSize)-byte pages: the file was cut short; use the original or a backup")
        }
        let pages = bigEndian(28, 4)
        if pages > 0, bigEndian(24, 4) == bigEndian(92, 4), size < pages * pageSize {
            throw .notAStore(path: path, reason: "its header records \(pages) pages of \(pageSize) bytes but the file holds \(size / pageSize): the file was cut short; use the original or a backup")
        }
    }
}

extension Store {
    /// Refuses a store path that names something other than a regular file: a directory, a
    /// FIFO (SQLite's open would wait forever for a writer on its other end), a device such as
    /// `/dev/null`, a socket, or a symbolic link to nothing. SQLite would otherwise hang, or
    /// report a "disk I/O error" that does not say what is wrong with the path.
    static func checkFileKind(_ path: String) throws(StoreError) {
        guard path != ":memory:" else { return }
        var link = stat()
        guard lstat(path, &link) == 0 else { return }  // nothing there: the caller creates or refuses
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .danglingLink(path: path, target: linkTarget(path) ?? "?")
        }
        let kind: String
        switch info.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: kind = "a directory; name the store file inside it, e.g. --db '\(path)/gmem.db'"
        case S_IFIFO: kind = "a FIFO; a store must be a regular file, which SQLite can seek and lock: copy a streamed store to a file first"
        case S_IFCHR: kind = "a character device; a store must be a regular file"
        case S_IFBLK: kind = "a block device; a store must be a regular file: mount the image and name the store file in it"
        case S_IFSOCK: kind = "a socket; a store must be a regular file"
        default: kind = "not a regular file"
        }
        throw .notAStore(path: path, reason: "it is \(kind)")
    }

    /// Where the symbolic link at `path` points.
    private static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when `path` (or, when it does not exist yet, its directory) lies on a file system
    /// mounted read-only, or cannot be written by this process: where SQLite can create
    /// neither the store nor the `-wal`/`-shm` files a WAL store is read with.
    static func isOnReadOnlyMedia(_ path: String) -> Bool {
        let directory = directoryOf(path)
        guard access(directory, F_OK) == 0 else { return false }  // no directory: not a question of media
        var info = statvfs()
        if statvfs(directory, &info) == 0, info.f_flag & UInt(ST_RDONLY) != 0 { return true }
        return access(directory, W_OK) != 0 || (access(path, F_OK) == 0 && access(path, W_OK) != 0)
    }

    /// The directory part of `path` (`.` for a bare name).
    static func directoryOf(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

extension Store {
    /// True when `candidate` is the store file at `store` or one of the files SQLite keeps
    /// beside it (`-wal`, `-shm`, `-journal`): the same file, whatever the path names it by (a
    /// symbolic or hard link included). A command that writes a file of its own refuses such a
    /// path, so that a slip of the keyboard cannot write over the evidence.
    /// A companion not made yet counts by its name: SQLite would take a file written there for
    /// its own.
    public static func isStoreFile(_ candidate: String, of store: String) -> Bool {
        let suffixes = ["", "-wal", "-shm", "-journal"]
        var target = stat()
        if stat(candidate, &target) == 0 {
            // A device, a FIFO or a directory is no store file (`checkFileKind` refuses such a store).
            guard (target.st_mode & S_IFMT) == S_IFREG else { return false }
            for suffix in suffixes {
                var info = stat()
                if stat(store + suffix, &info) == 0, info.st_dev == target.st_dev, info.st_ino == target.st_ino { return true }
            }
        }
        guard let candidatePath = resolvedPath(candidate), let storePath = resolvedPath(store) else { return false }
        return suffixes.contains { storePath + $0 == candidatePath }
    }

    /// `path` with its directory resolved (`realpath`), its last component as given; nil when
    /// the directory cannot be resolved.
    private static func resolvedPath(_ path: String) -> String? {
        let directory = directoryOf(path)
        let name = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        guard let resolved = realpath(directory, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + name
    }
}
