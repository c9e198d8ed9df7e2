import ArgumentParser
import Foundation
import GmemStore

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Append events from files (or - for stdin). Each file is one all-or-nothing batch."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case jsonl
    }

    @OptionGroup var store: StoreOptions

    @Option(help: "The input format.")
    var format: Format = .jsonl

    @Flag(help: "Keep undecodable lines in the reject table, with their reasons, and ingest the rest.")
    var quarantine = false

    @Flag(help: "Store each event exactly as written, without naming this input as its src (for re-ingesting an export).")
    var verbatim = false

    @Option(name: .customLong("snapshot-interval"), help: "Take a state snapshot every N events (recorded in the store for later ingests; default \(Store.defaultSnapshotInterval)).")
    var snapshotInterval: Int64?

    @Argument(help: "Input files; - reads standard input.")
    var files: [String]

    func validate() throws {
        if let snapshotInterval, snapshotInterval < 1 { throw ValidationError("--snapshot-interval must be at least 1") }
    }

    func run() throws {
        let store = try self.store.openForWriting()
        try failing {
            if let snapshotInterval {
                try store.recordSnapshotInterval(snapshotInterval)
            } else if let recorded = try store.recordedSnapshotInterval() {
                store.snapshotInterval = recorded
            }
        }
        var reader = JSONLIngest(quarantine: quarantine, addsSource: !verbatim)
        for file in files {
            let progress = Progress("ingest \(file)")
            let size = file == "-" ? 0 : ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int64 ?? 0)
            reader.progress = { bytes, lines in
                progress.update(done: Int64(bytes), total: size, events: Int64(lines))
            }
            let summary = try failing { try reader.ingest(path: file, into: store) }
            progress.finish()
            let name = file == "-" ? "<stdin>" : file
            if let batch = summary.duplicateOfBatch {
                print("\(name): already ingested as batch \(batch); nothing added")
                continue
            }
            var line = "\(name): \(summary.added) added, \(summary.skipped) skipped (duplicate id), \(summary.rejected) rejected"
            if let first = summary.firstSeq, let last = summary.lastSeq { line += " — seq \(first)…\(last)" }
            print(line)
        }
    }
}
