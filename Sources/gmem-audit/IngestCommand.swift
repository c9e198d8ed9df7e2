import ArgumentParser
import Foundation
import GmemStore

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Append events from files (or - for stdin). Each file is one all-or-nothing batch.",
        discussion: """
            Reads gmem JSON Lines, kernel traces (tracefs trace/trace_pipe, trace-cmd report, and trace-cmd's \
            binary trace.dat, told by its magic and read through libtracecmd) and QEMU -trace logs. With --merge, all the files are one batch ordered by timestamp, stable within each file: \
            e.g. a VMM's JSONL with the kernel trace of the same run, both on CLOCK_MONOTONIC (docs/TRACES.md).
            An input may be a pipe, a FIFO or <(…), and may be gzip or zstd compressed (told by its first bytes). \
            Lines are at most 1 MiB: a longer JSON line is refused, a longer trace line skipped and counted.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case jsonl, ftrace, qemu, auto
        case traceDat = "trace.dat"
    }

    @OptionGroup var store: StoreOptions

    @Option(help: "The input format; auto detects it per file: trace.dat by its magic, else from its first line that is not empty or a # comment.")
    var format: Format = .auto

    @Flag(help: "Keep undecodable lines in the reject table, with their reasons, and ingest the rest.")
    var quarantine = false

    @Flag(help: "Read all the files as one batch ordered by timestamp (stable within a file).")
    var merge = false

    @Option(help: "The VM that trace lines belong to (default: the only VM alive at that point of the log).")
    var vm: String?

    @Flag(help: "Store each event exactly as written, without naming this input as its src (for re-ingesting an export).")
    var verbatim = false

    @Option(name: .customLong("snapshot-interval"), help: "Take a state snapshot every N events (recorded in the store for later ingests; default \(Store.defaultSnapshotInterval)).")
    var snapshotInterval: Int64?

    @Option(help: "The kernel profile (rfc-2025 or upstream-2026, EVENTS.md §4a) for VMs whose vm_create names none; recorded in each such vm_create (default upstream-2026; with --verbatim, none is recorded unless given).")
    var kernel: KernelProfile?

    @Argument(help: "Input files; - reads standard input.")
    var files: [String]

    func validate() throws {
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be read only once") }
        if let vm, vm.isEmpty { throw ValidationError("--vm needs a VM name") }
        if let snapshotInterval, snapshotInterval < 1 { throw ValidationError("--snapshot-interval must be at least 1") }
        // Read as an input, the store's own file would be refused line 1 anyway, but reading it
        // outside SQLite drops this process's locks on it while the batch holds the store.
        for file in files where file != "-" && Store.isStoreFile(file, of: store.path) {
            throw ValidationError("'\(terminalSafe(file))' is the store itself (or a file SQLite keeps beside it), not an input; name the log to ingest")
        }
    }

    func run() throws {
        // An input that cannot be read is refused before the store is opened, so that a first
        // ingest of a mistyped name leaves no empty store behind. Only checked, not opened: a
        // FIFO's writer must meet the one reader that then reads it.
        for file in files where file != "-" && access(file, R_OK) != 0 {
            let error = StoreError.unreadableInput(path: file, reason: String(cString: strerror(errno)))
            printError("gmem-audit: \(error)")
            throw Exit.code(for: error)
        }
        let store = try self.store.openForWriting()
        try failing {
            if let snapshotInterval {
                try store.recordSnapshotInterval(snapshotInterval)
            } else if let recorded = try store.recordedSnapshotInterval() {
                store.snapshotInterval = recorded
            }
        }
        var ingest = MergeIngest(quarantine: quarantine, vm: vm, addsSource: !verbatim)
        // Each input is opened once, by the ingest: `auto` detects the format from the lines
        // the ingest reads, so a pipe, FIFO or process substitution loses nothing.
        let inputs = files.map { file in (path: file, format: inputFormat) }
        if let kernel { ingest.kernel = kernel }
        func run(_ batch: [(path: String, format: InputFormat?)]) throws {
            let progress = Progress("ingest " + batch.map(\.path).joined(separator: " + "))
            let size = batch.reduce(Int64(0)) { total, input in
                total + (input.path == "-" ? 0 : ((try? FileManager.default.attributesOfItem(atPath: input.path))?[.size] as? Int64 ?? 0))
            }
            ingest.progress = { bytes, lines in progress.update(done: Int64(bytes), total: size, events: Int64(lines)) }
            let summary = try failing { try ingest.ingest(batch, into: store) }
            progress.finish()
            report(summary)
        }
        if merge {
            try run(inputs)
        } else {
            for input in inputs {
                try run([input])
            }
        }
    }

    private var inputFormat: InputFormat? {
        switch format {
        case .jsonl: .jsonl
        case .ftrace: .ftrace
        case .qemu: .qemu
        case .traceDat: .traceDat
        case .auto: nil
        }
    }

    private func report(_ summary: MergeIngest.Summary) {
        // File and tracepoint names come from the input: shown with their control characters escaped.
        let name = terminalSafe(summary.inputs.map(\.name).joined(separator: " + "))
        if let batch = summary.batch.duplicateOfBatch {
            print("\(name): already ingested as batch \(batch); nothing added")
            return
        }
        let batch = summary.batch
        var line = "\(name): \(batch.added) added, \(batch.skipped) skipped (duplicate id), \(batch.rejected) rejected"
        if let first = batch.firstSeq, let last = batch.lastSeq { line += " — seq \(first)…\(last)" }
        print(line)
        for input in summary.inputs where input.format != .jsonl {
            let unit = input.format == .traceDat ? "records" : "trace lines"
            var text = "  \(input.name) (\(input.format?.rawValue ?? "empty")): \(input.records) \(unit) read, \(input.skipped.total) skipped"
            if input.skipped.total > 0 { text += ": " + input.skipped.summary() }
            print(terminalSafe(text))
        }
        if summary.unresolvedVM > 0 {
            print("  \(summary.unresolvedVM) trace events name no VM (vm \"?\"): none or several VMs were alive; use --vm NAME")
        }
    }
}
