import ArgumentParser
import GmemStore

/// Figure 6: peak memory of a replay of a long log of a large guest: generated, ingested in
/// batches through the library API, then replayed from seq 1 in a child process.
struct MemoryOptions: ParsableArguments {
    @Option(help: "How many events.")
    var events: Int = 10_000_000
    @Option(name: .customLong("gmem-size"), help: "Each VM's gmem size (bytes; 0x hex or a K/M/G/T suffix).")
    var gmemSize: Quantity = Quantity(argument: "1T")!
    @Option(help: "How many VMs are alive at once.")
    var vms: Int = 4
    @Option(help: "The generator's seed.")
    var seed: UInt64 = 1
    @Option(help: "Events per ingest batch.")
    var batch: Int = 100_000

    /// The target of figure 6, in bytes.
    static let peakTarget = 128 << 20

    func validate() throws {
        guard events > 0, batch > 0, vms > 0 else { throw ValidationError("--events, --batch and --vms must be at least 1") }
    }

    /// Ingests the log into `directory/memory.db` (removed afterwards), replays it in a child
    /// process, and returns the peak-RSS figure and the ingest rate beside it.
    func measure(in directory: String) throws -> [Row] {
        let path = directory + "/memory.db"
        removeStore(path)
        defer { removeStore(path) }
        var configuration = LogGenerator.Configuration()
        configuration.events = events
        configuration.vms = vms
        configuration.gmemSize = gmemSize.value
        configuration.seed = seed
        let store = try Store(path: path, access: .readWrite)
        var pending: [Event] = []
        pending.reserveCapacity(batch)
        var ingestSeconds = 0.0
        var generated = 0
        for event in LogGenerator(configuration) {
            pending.append(event)
            generated += 1
            if pending.count == batch || generated == events {
                let (_, elapsed) = try seconds { try store.append(contentsOf: pending) }
                ingestSeconds += elapsed
                pending.removeAll(keepingCapacity: true)
                progress("memory: ingested \(generated) events")
            }
        }
        progress("memory: replaying \(generated) events in a child process")
        let child = try ReplayCommand.spawn(store: path)
        return [
            Row(
                id: "replay_peak_rss", kind: .figure, name: "peak RSS replaying \(child.events) events, \(vms) VMs with \(bytesText(Int(gmemSize.value))) gmem files",
                value: Double(child.peakBytes), unit: .bytes, target: .valueAtMost(Double(Self.peakTarget)),
                note: "child process VmHWM; replay at \(rateText(Double(child.events) / child.seconds)); \(child.runs) runs in \(child.files) gmem files (\(child.openRuns) in the open ones)"),
            Row.rate(id: "memory_log_ingest", kind: .info, name: "library API ingest of that log, batches of \(batch)", items: generated, seconds: ingestSeconds),
        ]
    }
}

/// `gmem-bench memory`: figure 6 alone.
struct MemoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Peak RSS of replaying a long log of a large guest (default: 10M events, 1 TiB gmem files; target ≤ 128 MiB)."
    )

    @OptionGroup var memory: MemoryOptions
    @Option(help: "The directory for the store (default: a new directory under /tmp).")
    var dir: String?
    @Flag(help: "Keep the directory afterwards (the store itself is removed).")
    var keep = false
    @Flag(help: "Print the results as one JSON object instead of a table.")
    var json = false
    @Option(name: .customLong("json-file"), help: "Also write the results as one JSON object to this file.")
    var jsonFile: String?

    func run() throws {
        var options = try LogOptions.parse(keep ? ["--keep"] : [])
        options.dir = dir
        let directory = try options.workingDirectory()
        defer { options.cleanUp(directory) }
        var results = Results(command: "memory")
        results.context = [("log", .string("\(memory.events) generated events, \(memory.vms) VMs with \(hex(memory.gmemSize.value))-byte gmem files, seed \(memory.seed), ingested in batches of \(memory.batch)"))]
        results.rows = try memory.measure(in: directory)
        try results.printed(json: json, jsonFile: jsonFile)
    }
}

/// The memory a gmem file's state takes after many conversions: proportional to its runs.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "Heap bytes per run of a large gmem file's state after many conversions of 1G/2M/4K pieces."
    )

    @Option(help: "How many conversions.")
    var conversions: Int = 100_000
    @Option(name: .customLong("gmem-size"), help: "The gmem size (bytes; 0x hex or a K/M/G/T suffix).")
    var gmemSize: Quantity = Quantity(argument: "1T")!
    @Option(help: "The seed.")
    var seed: UInt64 = 1

    func run() throws {
        print(RunsMemory.measure(gmemSize: gmemSize.value, conversions: conversions, seed: seed).summary)
    }
}

/// One gmem file of `gmemSize` bytes converted `conversions` times, pieces of 4 KiB (70%),
/// 2 MiB (25%) and 1 GiB (5%) to a random shareability, and the heap its state grew by.
struct RunsMemory {
    var gmemSize: UInt64
    var conversions: Int
    var runs: Int
    var heapBytes: Int
    var elapsed: Double

    static func measure(gmemSize: UInt64, conversions: Int, seed: UInt64) -> RunsMemory {
        var random = SeededGenerator(seed: seed)
        var engine = Engine()
        engine.apply(Event(.vmCreate(vm: "td1", type: "tdx", tdxConnect: false)))
        engine.apply(Event(.gmemCreate(vm: "td1", gmem: "g1", size: gmemSize, flags: ["mmap"], folioSize: 1 << 30)))
        var events: [Event] = []
        events.reserveCapacity(conversions)
        for _ in 0..<conversions {
            let size: UInt64
            switch random.next() % 100 {
            case 0..<70: size = 4096
            case 70..<95: size = 2 << 20
            default: size = 1 << 30
            }
            let piece = min(size, gmemSize)
            let offset = (random.next() % (gmemSize / piece)) * piece
            events.append(Event(.convert(.file(gmem: "g1", offset: offset, size: piece), to: random.next() % 2 == 0 ? .shared : .private)))
        }
        let before = heapBytesInUse()
        let (_, elapsed) = seconds {
            for event in events { engine.apply(event) }
        }
        let after = heapBytesInUse()
        let runs = engine.state.files[0].pages.runCount
        return RunsMemory(gmemSize: gmemSize, conversions: conversions, runs: runs, heapBytes: after - before, elapsed: elapsed)
    }

    var summary: String {
        let pages = gmemSize / pageSize
        let perRun = runs > 0 ? heapBytes / runs : 0
        return "state of a \(bytesText(Int(gmemSize))) gmem (\(pages) pages) after \(conversions) conversions of 1G/2M/4K pieces: \(runs) runs, heap grew by \(bytesText(heapBytes)) = \(perRun) bytes per run (a run is \(MemoryLayout<RangeMap<PageState>.Run>.stride) bytes; \(String(format3: Double(heapBytes) / Double(pages))) bytes per page); \(String(format3: elapsed)) s, \(rateText(Double(conversions) / elapsed)) conversions"
    }
}
