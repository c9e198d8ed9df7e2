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
        guard let file = fopen(path, "rb") else { return }
        defer { fclose(file) }
        var header = [UInt8](repeating: 0, count: 100)
        guard fread(&header, 1, 100, file) == 100, header.starts(with: Array("SQLite format 3\0".utf8)) else { return }
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
