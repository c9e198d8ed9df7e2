import ArgumentParser
import GmemStore
#if canImport(Glibc)
import Glibc
#endif

/// gmem's performance harness: gmem's figures side by side with raw SQLite baselines fixed by
/// the input alone (one row per input line), each with its ratio to the baseline it is held to.
@main
struct GmemBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gmem-bench",
        abstract: "Measure gmem against what its input costs in raw SQLite.",
        subcommands: [RunCommand.self, EngineCommand.self, MemoryCommand.self, RunsCommand.self, ReplayCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

/// A byte count or number on the command line: decimal, `0x` hex, or with a K/M/G/T suffix
/// (powers of 1024).
struct Quantity: ExpressibleByArgument {
    var value: UInt64
    init?(argument: String) {
        guard let value = parseByteCount(argument) else { return nil }
        self.value = value
    }
}

/// The shape of the generated log, shared by the subcommands.
struct LogOptions: ParsableArguments {
    @Option(help: "How many events to generate.")
    var events: Int = 1_000_000
    @Option(help: "How many VMs are alive at once.")
    var vms: Int = 4
    @Option(name: .customLong("gmem-size"), help: "Each VM's gmem size (bytes; 0x hex or a K/M/G/T suffix).")
    var gmemSize: Quantity = Quantity(argument: "4G")!
    @Option(help: "The generator's seed.")
    var seed: UInt64 = 1
    @Option(help: "The directory for the stores and the log (default: a new directory under /tmp).")
    var dir: String?
    @Flag(help: "Keep the directory afterwards.")
    var keep = false

    func validate() throws {
        guard events > 0 else { throw ValidationError("--events must be at least 1") }
        guard gmemSize.value > 0, gmemSize.value % (2 << 20) == 0 else { throw ValidationError("--gmem-size must be a positive multiple of 2 MiB") }
    }

    var configuration: LogGenerator.Configuration {
        var configuration = LogGenerator.Configuration()
        configuration.events = events
        configuration.vms = vms
        configuration.gmemSize = gmemSize.value
        configuration.seed = seed
        return configuration
    }

    /// The working directory: created fresh, removed at the end unless `--keep`.
    func workingDirectory() throws -> String {
        if let dir {
            guard mkdir(dir, 0o755) == 0 || errno == EEXIST else { throw BenchError("\(dir): cannot create: \(String(cString: strerror(errno)))") }
            return dir
        }
        var template = Array("/tmp/gmem-bench.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw BenchError("cannot create a directory under /tmp: \(String(cString: strerror(errno)))") }
        return String(cString: made)
    }

    func cleanUp(_ directory: String) {
        if keep {
            progress("kept \(directory)")
            return
        }
        unlink(directory + "/log.jsonl")
        unlink(directory + "/tail.jsonl")
        for name in ["raw.db", "jsonl.db", "api.db", "trace-raw.db", "trace.db", "memory.db", "pragmas.db"] {
            removeStore(directory + "/" + name)
        }
        unlink(directory + "/trace/big.jsonl")
        unlink(directory + "/trace/big.trace")
        rmdir(directory + "/trace")
        if dir == nil { rmdir(directory) }
    }
}
