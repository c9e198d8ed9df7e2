import ArgumentParser
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

    @Argument(help: "Input files; - reads standard input.")
    var files: [String]

    func run() throws {
        let store = try self.store.openForWriting()
        let reader = JSONLIngest(quarantine: quarantine)
        for file in files {
            let summary = try failing { try reader.ingest(path: file, into: store) }
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
