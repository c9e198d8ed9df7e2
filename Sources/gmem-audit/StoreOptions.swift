import ArgumentParser
import Foundation
import GmemStore

/// The store every command works on. Writing commands take only this; reading commands take
/// `ReadingStoreOptions`, which adds `--immutable`, so that no writing command offers it.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store file (default: $GMEM_DB, else ./gmem.db).")
    var db: String?

    var path: String { db ?? ProcessInfo.processInfo.environment["GMEM_DB"] ?? "./gmem.db" }

    /// True when something is at the store's path (a symbolic link to nothing counts, so that
    /// opening it says what is wrong with it).
    var exists: Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Opens the store for writing (creating it when missing).
    func openForWriting() throws -> Store {
        try failing { () throws(StoreError) in try Store(path: path, access: .readWrite) }
    }
}

/// The store a reading command reads, and how.
struct ReadingStoreOptions: ParsableArguments {
    @OptionGroup var location: StoreOptions

    @Flag(help: "Open the store with immutable=1, for evidence on read-only media: nothing is written beside it, and a -wal that holds committed batches is read from a private copy in $TMPDIR. Nothing may write the store meanwhile.")
    var immutable = false

    var path: String { location.path }

    /// Opens the store read-only (`mode=ro`, or `immutable=1` with `--immutable`); the file is
    /// never written.
    func openForReading() throws -> Store {
        try failing { () throws(StoreError) in try Store(path: path, access: .readOnly(immutable: immutable)) }
    }
}

/// The exit codes of CLI.md.
enum Exit {
    static let findings = ExitCode(1)
    static let verifyFailed = ExitCode(2)
    static let dataError = ExitCode(65)
    static let noInput = ExitCode(66)
    static let ioError = ExitCode(74)

    static func code(for error: StoreError) -> ExitCode {
        switch error {
        case .missingStore, .unreadableInput, .danglingLink, .missingDirectory: noInput
        case .decode: dataError
        case .notAStore, .newerSchema, .database, .readOnlyMedia, .walNotFolded, .oldLayout, .storedInput: ioError
        }
    }
}

/// Writes text to standard output without a newline.
func writeRaw(_ text: String) { writeRaw(Array(text.utf8)) }

/// Writes bytes to standard output without a newline.
func writeRaw(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}

/// Writes `bytes` and a newline to standard output, as `print` writes a `String`.
func writeLine(_ bytes: [UInt8]) {
    var bytes = bytes
    bytes.append(0x0A)
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }  // a closed pipe: the reader has what it wanted
            offset += written
        }
    }
}

/// Prints a message as one line to standard error, its control characters escaped
/// (`terminalSafe`): messages quote file names, ids and reasons from the evidence.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((terminalSafe(text) + "\n").utf8))
}

/// Runs `body`, turning a gmem error into its message on stderr and its exit code.
func failing<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as StoreError {
        printError("gmem-audit: \(error)")
        throw Exit.code(for: error)
    } catch let error as SQLiteError {
        printError("gmem-audit: \(error)")
        throw Exit.ioError
    } catch let error as StateCodec.DecodingError {
        printError("gmem-audit: \(error)")
        throw Exit.ioError
    }
}

/// A point of the log given as a seq or an RFC 3339 time.
enum LogPoint: ExpressibleByArgument {
    case seq(Int64)
    case time(Int64)

    init?(argument: String) {
        if let seq = Int64(argument), seq >= 0 {
            self = .seq(seq)
        } else if let time = Timestamp.parse(argument) {
            self = .time(time)
        } else {
            return nil
        }
    }

    func seq(in store: Store) throws -> Int64 {
        switch self {
        case .seq(let seq): seq
        case .time(let time): try store.seq(atTime: time)
        }
    }
}

/// A byte count or address: decimal or 0x hex, with an optional K, M, G or T suffix.
struct Number: ExpressibleByArgument {
    var value: UInt64
    init?(argument: String) {
        guard let value = parseByteCount(argument) else { return nil }
        self.value = value
    }
}
