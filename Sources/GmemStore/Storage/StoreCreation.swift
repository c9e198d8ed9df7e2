#if canImport(Glibc)
import Glibc
#endif

extension Store {
    /// Creates the store at `path` whole, when it does not exist: the schema is migrated in a
    /// private file beside it, which is then linked into place in one step. Two writers that
    /// start on the same new path (two ingests at once) therefore never see each other's
    /// half-written first pages — SQLite's locks cannot cover a file that is still being born,
    /// and the loser of the race read a short header ("disk I/O error"). The loser's link fails
    /// with EEXIST and it opens the winner's store.
    ///
    /// Where the file system cannot make hard links, the store is created in place as before.
    static func createIfMissing(_ path: String) throws(StoreError) {
        guard path != ":memory:", access(path, F_OK) != 0 else { return }
        let scratch = path + ".creating-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer {
            unlink(scratch)
            unlink(scratch + "-wal")
            unlink(scratch + "-shm")
        }
        do {
            let database = try Database(path: scratch, access: .readWrite)
            try database.execute("PRAGMA journal_mode = WAL")
            try Migrator.migrate(database)
            // Closing the only connection checkpoints the WAL into the file and removes it.
        } catch {
            // No scratch file here (a read-only directory, a full disk): the caller's open in
            // place meets the same condition and reports it against the store's own path.
            return
        }
        if link(scratch, path) != 0, errno != EEXIST {
            // No hard links here: the store is created in place by the caller's open.
            return
        }
    }
}

extension Store {
    /// Removes the scratch files (`PATH.creating-PID-N`, with their `-wal`/`-shm`) that a
    /// store creation killed before its `defer` ran left beside `path`. A file is removed only
    /// when the process its name records is gone, so that a creation still running in another
    /// process keeps its file (a PID reused since errs on the side of keeping it).
    static func removeAbandonedScratchFiles(_ path: String) {
        guard path != ":memory:" else { return }
        let directory = directoryOf(path)
        let base = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        let prefix = base + ".creating-"
        guard let stream = opendir(directory) else { return }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name.hasPrefix(prefix) else { continue }
            let digits = name.dropFirst(prefix.count).prefix(while: \.isASCII).prefix(while: \.isNumber)
            guard let pid = pid_t(digits), pid > 0, name.dropFirst(prefix.count + digits.count).first == "-" else { continue }
            if kill(pid, 0) != 0, errno == ESRCH {
                unlink(directory + "/" + name)
            }
        }
    }
}
