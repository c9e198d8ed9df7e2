import ArgumentParser
import GmemStore

struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "The reconstructed page state, as merged runs, at the end of the log or as of a point."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, csv
    }

    @OptionGroup var store: ReadingStoreOptions

    @Option(help: "A seq, or an RFC 3339 time (the last event with ts at or before it).")
    var at: LogPoint?

    @Option(help: "Only the gmem files of this VM.")
    var vm: String?

    @Option(help: "Only this gmem file.")
    var gmem: String?

    @Option(help: "Output format.")
    var format: Format = .text

    @Option(help: "What-if: judge every VM as if it ran this kernel profile (rfc-2025 or upstream-2026); replays the log, stores nothing.")
    var kernel: KernelProfile?

    func run() throws {
        let store = try self.store.openForReading()
        let runs = try failing {
            try store.database.readTransaction { () throws -> [StateRun] in
                let head = try store.headLink().seq
                let seq = try at.map { try min($0.seq(in: store), head) } ?? head
                if let kernel {
                    printError("state: what-if: every VM judged as \(kernel.rawValue); replayed from the first event, nothing stored")
                    return StateReport.runs(of: try store.engine(at: seq, judgingAs: kernel).state, vm: vm, gmem: gmem)
                }
                return StateReport.runs(of: try store.engine(at: seq, closedFilePages: false).state, vm: vm, gmem: gmem)
            }
        }
        switch format {
        case .text: print(StateReport.text(runs))
        case .json: print(StateReport.json(runs))
        case .csv: print(StateReport.csv(runs))
        }
    }
}
