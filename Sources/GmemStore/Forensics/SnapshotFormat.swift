import CZstd

/// How snapshots keep closed gmem files: apart, once. A closed file's pages stop changing (no
/// range resolves to a closed file; only an unbind of a binding it still had can touch it), yet
/// the engine keeps every file ever created, so on a long log the closed files are most of the
/// state. A snapshot blob holds the state with closed files' pages left out; each closed file's
/// pages are in `closed_file`, one row per version, written by the first snapshot that needs it.
/// Reading a snapshot for what is open (`state --at`) then decodes only the open files.
public enum SnapshotFormat {
    /// `state` with every closed file's pages removed.
    public static func withoutClosedFilePages(_ state: GmemState) -> GmemState {
        var elided = state
        for index in elided.files.indices where !elided.files[index].isOpen {
            elided.files[index].pages = RangeMap()
        }
        return elided
    }

    /// The stored form of one file: a state that holds only it.
    public static func encode(file: GmemFile) -> [UInt8] {
        var single = GmemState()
        single.files = [file]
        return StateCodec.encode(single)
    }

    /// Stores the closed files of `state` that have no stored version yet, or whose pages
    /// changed (`changed`), as of snapshot `seq`.
    static func storeClosedFiles(of state: GmemState, at seq: Int64, changed: Set<Int>, in store: Store) throws {
        let exists = try store.database.cached("SELECT 1 FROM closed_file WHERE file = ? LIMIT 1")
        let insert = try store.database.cached("INSERT OR REPLACE INTO closed_file(file, seq, state) VALUES (?, ?, ?)")
        for (index, file) in state.files.enumerated() where !file.isOpen {
            if !changed.contains(index) {
                try exists.bind(1, Int64(index))
                let stored = try exists.step()
                exists.reset()
                if stored { continue }
            }
            try insert.bind(1, Int64(index))
            try insert.bind(2, seq)
            try insert.bind(3, encode(file: file))
            try insert.run()
        }
    }

    /// Puts back the pages of the closed files of a snapshot taken at `seq`. Snapshots written
    /// before migration 0003 still hold their closed files' pages; those are kept as they are.
    static func loadClosedFiles(into state: inout GmemState, at seq: Int64, from store: Store) throws {
        let select = try store.database.cached("SELECT state FROM closed_file WHERE file = ? AND seq <= ? ORDER BY seq DESC LIMIT 1")
        defer { select.reset() }
        for index in state.files.indices where !state.files[index].isOpen && state.files[index].pages.isEmpty {
            try select.bind(1, Int64(index))
            try select.bind(2, seq)
            guard try select.step() else {
                throw StateCodec.DecodingError(description: "the snapshot at seq \(seq) names closed gmem file #\(index) '\(state.files[index].name)', which closed_file does not hold: run verify")
            }
            guard let file = try StateCodec.decode(select.blob(0)).files.first else {
                throw StateCodec.DecodingError(description: "closed_file row of gmem file #\(index) holds no file: run verify")
            }
            state.files[index].pages = file.pages
            select.reset()
        }
    }
}


extension SnapshotFormat {
    /// zstd's level for snapshots: a snapshot is a few hundred KiB written every few thousand
    /// events, where level 3 keeps about 40% of it in about a millisecond.
    static let level: Int32 = 3
    /// The first bytes of a zstd frame.
    static let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    /// The stored form of a snapshot's state: its `StateCodec` bytes (closed files' pages left
    /// out) in one zstd frame. Snapshots are most of a store's bytes after the events; on the
    /// generator's workload compressing them takes the store from 190 to about 170 bytes an event.
    public static func pack(_ state: GmemState) -> [UInt8] {
        compress(StateCodec.encode(withoutClosedFilePages(state)))
    }

    /// The `StateCodec` bytes of a stored snapshot: a zstd frame, or (snapshots written before
    /// they were compressed) the bytes themselves.
    public static func unpack(_ blob: [UInt8]) throws -> [UInt8] {
        guard blob.count >= 4, Array(blob[0..<4]) == zstdMagic else { return blob }
        let size = blob.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are the two largest values; a state is far smaller.
        guard size < UInt64(Int32.max) else {
            throw StateCodec.DecodingError(description: "a stored snapshot's zstd frame names no size: run verify")
        }
        var out = [UInt8](repeating: 0, count: Int(size))
        let written = blob.withUnsafeBytes { source in
            out.withUnsafeMutableBytes { ZSTD_decompress($0.baseAddress, $0.count, source.baseAddress, source.count) }
        }
        guard ZSTD_isError(written) == 0, written == Int(size) else {
            throw StateCodec.DecodingError(description: "a stored snapshot does not decompress: run verify")
        }
        return out
    }

    /// One zstd frame of `bytes`, with its size in the frame header.
    static func compress(_ bytes: [UInt8]) -> [UInt8] {
        ZstdFrame.compress(bytes, level: level)
    }
}
