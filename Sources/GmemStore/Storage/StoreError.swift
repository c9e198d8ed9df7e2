/// Why a store could not be used or an input could not be taken. Each case says what to do.
public enum StoreError: Error, CustomStringConvertible {
    /// The database file named for reading does not exist.
    case missingStore(path: String)
    /// The file exists but is not a gmem store (another SQLite file, or not SQLite at all).
    case notAStore(path: String, reason: String)
    /// The store was written by a newer gmem, with a schema this build does not know.
    case newerSchema(path: String, found: Int64, supported: Int64)
    /// SQLite failed.
    case database(SQLiteError)
    /// A line of input could not be decoded; nothing of its batch was written.
    case decode(file: String, line: UInt64, message: String)
    /// An input file could not be read.
    case unreadableInput(path: String, reason: String)
    /// The store was made by the layout before schema 1; only `gmem-audit upgrade` reads it.
    case oldLayout(path: String)
    /// A stored row or a stored input could not be read back.
    case storedInput(reason: String)
    /// The store path is a symbolic link to a file that does not exist.
    case danglingLink(path: String, target: String)
    /// The store lies on read-only media (or is not writable), where a writer cannot add to
    /// it and a plain read-only open cannot make the `-shm` file SQLite reads a WAL with.
    case readOnlyMedia(path: String, writing: Bool)
    /// The directory a new store was to be created in does not exist.
    case missingDirectory(path: String, directory: String)
    /// `--immutable` met a `-wal` holding committed batches, and the private copy that reads
    /// them without writing the original could not be made.
    case walNotFolded(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingStore(let path):
            "no gmem store at '\(path)': ingest something first, or name another with --db or $GMEM_DB"
        case .notAStore(let path, let reason):
            "'\(path)' is not a gmem store (\(reason)); nothing was written to it"
        case .newerSchema(let path, let found, let supported):
            "'\(path)' has schema version \(found), newer than this gmem-audit understands (\(supported)); use a newer gmem-audit"
        case .database(let error):
            error.description
        case .decode(let file, let line, let message):
            "\(file):\(line): \(message)"
        case .unreadableInput(let path, let reason):
            "cannot read '\(path)': \(reason)"
        case .oldLayout(let path):
            "'\(path)' was made by gmem before schema 1; copy it into a new store with `gmem-audit upgrade \(path) NEW.db` (the old file is only read)"
        case .storedInput(let reason):
            "the store is damaged: \(reason); run `gmem-audit verify`"
        case .danglingLink(let path, let target):
            "'\(path)' is a symbolic link to '\(target)', which does not exist: name the store file itself with --db, or fix the link"
        case .readOnlyMedia(let path, writing: true):
            "'\(path)' is on read-only media or not writable, so nothing can be added to it: copy the store somewhere writable to ingest or audit; reading commands (state, history, verify, export, explain) read it in place with --immutable"
        case .readOnlyMedia(let path, writing: false):
            "'\(path)' is on read-only media or not writable, where SQLite cannot create the -shm file it reads a store with: add --immutable to read it without writing anything"
        case .missingDirectory(let path, let directory):
            "cannot create the store '\(path)': the directory '\(directory)' does not exist; create it, or name another store with --db or $GMEM_DB"
        case .walNotFolded(let path, let reason):
            "'\(path)-wal' holds committed batches not yet in '\(path)'; --immutable reads them from a private copy of both files, so that the original is never written, and the copy failed: \(reason). Free space in $TMPDIR (or set TMPDIR to a roomier directory)"
        }
    }
}
