import CSQLite

/// A store file opened for reading through SQLite's own VFS, not with `open`/`fopen`.
///
/// POSIX advisory locks belong to a process, not to a descriptor: closing any descriptor of a
/// file drops every lock the process holds on it, those of SQLite's connections included
/// ("How To Corrupt An SQLite Database File", 2.2). A connection that lost its shared lock on
/// a WAL store still believes it holds it; another process that then closes its own
/// connection finds the file unused, checkpoints, and deletes the `-wal` under a writer of this
/// process that goes on appending to it — every batch committed after that is invisible to
/// other processes. SQLite's VFS knows the locks its connections hold on each file of the
/// process and keeps a descriptor it is asked to close open until the last of them is
/// released. So every read of a store file outside a connection (its header check, the copy
/// an `--immutable` read makes) goes through here.
final class StoreFileReader {
    private let file: UnsafeMutablePointer<sqlite3_file>
    /// The name the VFS was given, kept as long as the file is open (the VFS keeps a pointer to it).
    private let name: sqlite3_filename

    /// Opens the store file at `path` read-only; nil when it cannot be opened.
    init?(path: String) {
        guard let vfs = sqlite3_vfs_find(nil), let fullPathname = vfs.pointee.xFullPathname, let open = vfs.pointee.xOpen else { return nil }
        var full = [CChar](repeating: 0, count: Int(vfs.pointee.mxPathname) + 1)
        guard fullPathname(vfs, path, Int32(full.count), &full) == SQLITE_OK else { return nil }
        // A database name as SQLite itself makes it (journal and WAL names after it), so that
        // nothing in the VFS reads past its end.
        guard let name = sqlite3_create_filename(full, "", "", 0, nil) else { return nil }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: Int(vfs.pointee.szOsFile), alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: Int(vfs.pointee.szOsFile))
        let file = storage.bindMemory(to: sqlite3_file.self, capacity: 1)
        var flags: Int32 = 0
        guard open(vfs, name, file, SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READONLY, &flags) == SQLITE_OK else {
            // A failed xOpen leaves nothing to close (pMethods stays NULL).
            if let close = file.pointee.pMethods?.pointee.xClose { _ = close(file) }
            storage.deallocate()
            sqlite3_free_filename(name)
            return nil
        }
        self.file = file
        self.name = name
    }

    deinit {
        if let close = file.pointee.pMethods?.pointee.xClose { _ = close(file) }
        UnsafeMutableRawPointer(file).deallocate()
        sqlite3_free_filename(name)
    }

    /// The file's size in bytes; nil when the VFS cannot say.
    var size: Int64? {
        var size: sqlite3_int64 = 0
        guard let fileSize = file.pointee.pMethods?.pointee.xFileSize, fileSize(file, &size) == SQLITE_OK else { return nil }
        return Int64(size)
    }

    /// Reads up to `count` bytes at `offset`; fewer at the end of the file, none past it; nil
    /// on an error.
    func read(count: Int, at offset: Int64) -> [UInt8]? {
        guard let size, let read = file.pointee.pMethods?.pointee.xRead else { return nil }
        let available = Int(max(0, min(Int64(count), size - offset)))
        guard available > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: available)
        let rc = bytes.withUnsafeMutableBytes { read(file, $0.baseAddress, Int32(available), offset) }
        return rc == SQLITE_OK ? bytes : nil
    }
}
