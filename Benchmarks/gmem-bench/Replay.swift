import ArgumentParser
import GmemStore
#if canImport(Glibc)
import Glibc
#endif

/// A replay of the whole log: from an empty state, every event from seq 1, no snapshot used.
enum Replay {
    static func full(_ store: Store) throws -> Engine {
        let head = try store.headLink().seq
        var engine = Engine()
        guard head > 0 else { return engine }
        try store.replay(1...head, into: &engine)
        return engine
    }
}

/// Replays a store in this process and prints the event count and seconds; run as a child
/// process so that its peak resident set is the replay's alone.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a store from seq 1 and print `EVENTS SECONDS RUNS OPEN-FILE-RUNS FILES PEAK-RSS-BYTES` (for peak-memory measurement)."
    )

    @Option(help: "The store to replay (opened read-only).")
    var db: String

    @Flag(help: "Only read the events back (the read-back figure, no engine) and print `EVENTS SECONDS`: for profiling it.")
    var eventsOnly = false

    func run() throws {
        let store = try Store(path: db, access: .readOnly(immutable: false))
        if eventsOnly {
            let (read, elapsed) = try seconds { try ReadBack.events(store) }
            print("\(read.events) \(elapsed)")
            return
        }
        let (engine, elapsed) = try seconds { try Replay.full(store) }
        let runs = engine.state.files.reduce(0) { $0 + $1.pages.runCount }
        let openRuns = engine.state.files.filter(\.isOpen).reduce(0) { $0 + $1.pages.runCount }
        print("\(try store.headLink().seq) \(elapsed) \(runs) \(openRuns) \(engine.state.files.count) \(peakResidentBytesOfThisImage())")
    }

    /// What a child replay reported, with its peak resident set.
    struct Outcome {
        var events: Int
        var seconds: Double
        var runs: Int
        /// Runs of the files still open at the end (closed files keep their runs in the state).
        var openRuns: Int
        /// Every gmem file the log created, open or closed.
        var files: Int
        var peakBytes: Int
    }

    /// Runs `gmem-bench replay --db store` as a child process and collects its figures.
    static func spawn(store: String) throws -> Outcome {
        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else { throw BenchError("pipe: \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[1], STDOUT_FILENO)
        posix_spawn_file_actions_addclose(&actions, pipe[0])
        let executable = "/proc/self/exe"
        let arguments = [CommandLine.arguments[0], "replay", "--db", store]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, &argv, environ)
        close(pipe[1])
        guard rc == 0 else {
            close(pipe[0])
            throw BenchError("cannot start \(executable) replay: \(String(cString: strerror(rc)))")
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(pipe[0], &buffer, buffer.count)
            if count <= 0 { break }
            output += buffer[0..<count]
        }
        close(pipe[0])
        var status: Int32 = 0
        guard waitpid(pid, &status, 0) == pid else { throw BenchError("waitpid: \(String(cString: strerror(errno)))") }
        let fields = String(decoding: output, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard status == 0, fields.count == 6, let events = Int(fields[0]), let elapsed = Double(fields[1]), let runs = Int(fields[2]),
            let openRuns = Int(fields[3]), let files = Int(fields[4]), let peak = Int(fields[5])
        else {
            throw BenchError("the child replay of \(store) failed (wait status \(status)): \(String(decoding: output, as: UTF8.self))")
        }
        return Outcome(events: events, seconds: elapsed, runs: runs, openRuns: openRuns, files: files, peakBytes: peak)
    }
}

/// The peak resident set of this process image (`VmHWM` of /proc/self/status), in bytes.
/// Unlike `ru_maxrss`, which Linux carries across exec from the parent's memory, this counts
/// only what the replay itself touched.
func peakResidentBytesOfThisImage() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return peakResidentBytes() }
    defer { fclose(file) }
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(line) }
    while getline(&line, &capacity, file) > 0 {
        let text = String(cString: line!)
        guard text.hasPrefix("VmHWM:") else { continue }
        let digits = text.filter(\.isNumber)
        if let kib = Int(digits) { return kib * 1024 }
    }
    return peakResidentBytes()
}
