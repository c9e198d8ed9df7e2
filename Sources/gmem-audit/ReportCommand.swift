import ArgumentParser
import Foundation
import GmemStore

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page: a timeline per gmem of page shareability, mapping and pins, with findings marked."
    )

    @OptionGroup var store: ReadingStoreOptions

    @Option(help: "The HTML file to write.")
    var out: String

    @Option(help: "Timeline columns (pixels); each stands for about events/columns events.")
    var columns: Int = 900

    @Option(help: "Rows per gmem lane; each stands for size/rows bytes of the file.")
    var rows: Int = 96

    func validate() throws {
        guard (10...4000).contains(columns) else { throw ValidationError("--columns must be from 10 to 4000") }
        guard (8...1000).contains(rows) else { throw ValidationError("--rows must be from 8 to 1000") }
        guard !Store.isStoreFile(out, of: store.path) else {
            throw ValidationError("--out '\(terminalSafe(out))' is the store itself (or a file SQLite keeps beside it): the page would be written over the evidence; name another file")
        }
    }

    func run() throws {
        let store = try self.store.openForReading()
        let progress = Progress("report")
        let html = try failing {
            try store.database.readTransaction { () throws -> String in
                let timeline = try ReportTimeline.build(store: store, columns: columns, rows: rows) { seq, head in
                    progress.update(done: seq, total: head, events: seq)
                }
                let head = try store.headLink()
                let root = try MerkleTree(store: store).root(size: head.seq)
                let header = ReportHTML.Header(
                    title: "gmem report: \((self.store.path as NSString).lastPathComponent)",
                    head: "\(head.seq):\(HashChain.hex(head.hash))", merkleRoot: "\(head.seq):\(HashChain.hex(root))")
                return ReportHTML.render(
                    timeline, header: header, findings: try ReportFinding.stored(in: store), divergences: try ReportHTML.divergences(in: store))
            }
        }
        progress.finish()
        guard FileManager.default.createFile(atPath: out, contents: Data(html.utf8)) else {
            printError("gmem-audit: cannot write '\(out)': check that its directory exists and is writable")
            throw Exit.ioError
        }
        print("wrote \(terminalSafe(out)) (\(html.utf8.count) bytes)")
    }
}
