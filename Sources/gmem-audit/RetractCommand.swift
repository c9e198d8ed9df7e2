import ArgumentParser
import GmemStore

struct RetractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retract",
        abstract: "Record that a batch was read wrongly (a wrong --vm or --kernel): every replay skips its events from then on; they stay in the log.",
        discussion: """
            Appends a `retract` event, in a batch of its own, naming the batch's seqs and the hash of its last \
            event. state, audit, report and explain judge the log without the batch's events (also as of a point \
            before the retraction); history shows them, marked retracted, and the retraction itself. The same \
            input can then be ingested again, read the right way. docs/STORE.md, "Retracted batches".
            """
    )

    @OptionGroup var store: StoreOptions

    @Argument(help: "The batch number, as `ingest` and `history` name it (sqlite3: SELECT id, source, read_as FROM batch).")
    var batch: Int64

    @Option(help: "Why the batch was read wrongly (kept in the log with the retraction).")
    var reason: String

    func validate() throws {
        if !reason.contains(where: { !$0.isWhitespace }) { throw ValidationError("--reason must say why the batch was read wrongly") }
        if batch < 1 { throw ValidationError("a batch number is 1 or more") }
    }

    func run() throws {
        guard store.exists else {
            printError("gmem-audit: \(StoreError.missingStore(path: store.path))")
            throw Exit.noInput
        }
        let opened = try store.openForWriting()
        let summary: RetractSummary
        do {
            summary = try failing { try opened.retract(batch: batch, reason: reason) }
        } catch let refused as RetractionError {
            printError("gmem-audit: \(refused)")
            throw refused.kind == .unknown ? Exit.noInput : Exit.dataError
        }
        let retraction = summary.retraction
        print("batch \(retraction.batch) (seq \(retraction.seqs.lowerBound)…\(retraction.seqs.upperBound)) retracted at seq \(retraction.seq) (batch \(summary.batch)): \(terminalSafe(retraction.reason))")
        if summary.droppedFindings {
            print("  the stored findings covered it and were dropped: run `gmem-audit audit` to make them again without it")
        }
    }
}
