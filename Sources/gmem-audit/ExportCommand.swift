import ArgumentParser
import Foundation
import GmemStore

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the log as canonical JSON Lines (re-ingestible with identical hashes and state) or as CSV, streaming."
    )

    @OptionGroup var store: ReadingStoreOptions

    @Option(help: "Output format.")
    var format: ExportFormat = .jsonl

    @Option(help: "The first event: a seq, or an RFC 3339 time (the first event after the last one with ts before it).")
    var since: LogPoint?

    @Option(help: "The last event: a seq, or an RFC 3339 time (the last event with ts at or before it).")
    var until: LogPoint?

    @Option(name: .customLong("original"), help: "Write the bytes of batch BATCH's input as they were given (a .gz stays compressed), instead of the log.")
    var originalBatch: Int64?

    @Option(help: "With --original: which of the batch's inputs (1, 2 … in the order they were named), when it has several.")
    var input: Int?

    func run() throws {
        let store = try self.store.openForReading()
        var output = BufferedStandardOutput()
        if let originalBatch {
            try failing {
                try store.database.readTransaction { () throws in
                    let inputs = try InputArchive.inputs(of: originalBatch, in: store)
                    guard !inputs.isEmpty else {
                        throw StoreError.unreadableInput(path: "batch \(originalBatch)", reason: "the store keeps no input for it (an API append, or no such batch)")
                    }
                    guard inputs.count == 1 || input != nil else {
                        let names = inputs.enumerated().map { "\($0.offset + 1): \($0.element.name)" }.joined(separator: ", ")
                        throw StoreError.unreadableInput(path: "batch \(originalBatch)", reason: "it has \(inputs.count) inputs (\(names)); name one with --input")
                    }
                    let index = (input ?? 1) - 1
                    guard inputs.indices.contains(index) else {
                        throw StoreError.unreadableInput(path: "batch \(originalBatch)", reason: "it has no input \(index + 1)")
                    }
                    try InputArchive.forEachChunk(of: inputs[index].id, in: store) { output.write($0) }
                }
            }
            output.flush()
            if let failure = output.failure {
                printError("gmem-audit: writing the input failed: \(String(cString: strerror(failure)))")
                throw Exit.ioError
            }
            return
        }
        let progress = Progress("export")
        try failing {
            try store.database.readTransaction { () throws in
                let head = try store.headLink().seq
                let first: Int64 = try since.map { point in
                    switch point {
                    case .seq(let seq): max(seq, 1)
                    case .time(let time): try store.seq(atTime: time - 1) + 1
                    }
                } ?? 1
                let last = try until.map { try min($0.seq(in: store), head) } ?? head
                guard first <= last else { return }
                try Exporter(store: store).write(format, seqs: first...last, to: &output) { seq in
                    progress.update(done: seq - first, total: last - first + 1, events: seq - first + 1)
                }
            }
        }
        progress.finish()
        output.flush()
        if let failure = output.failure {
            printError("gmem-audit: writing the export failed: \(String(cString: strerror(failure)))")
            throw Exit.ioError
        }
    }
}

extension ExportFormat: ExpressibleByArgument {}
