import ArgumentParser
import GmemStore

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Every event that touched some pages, oldest first, with their state before and after."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @OptionGroup var store: ReadingStoreOptions

    @Option(help: "The gmem file (with --offset).")
    var gmem: String?
    @Option(help: "A file offset in the gmem (decimal or 0x hex).")
    var offset: Number?
    @Option(help: "The VM (with --gpa).")
    var vm: String?
    @Option(help: "A guest physical address.")
    var gpa: Number?
    @Option(help: "A host frame number.")
    var pfn: Number?
    @Option(help: "Bytes from the address, e.g. 2M (default one page; with --pfn, pages).")
    var size: Number?
    @Option(help: "Output format.")
    var format: Format = .text
    @Flag(help: "With each event, the line of the input it was read from, as given.")
    var original = false

    func validate() throws {
        let subjects = [gmem != nil || offset != nil, vm != nil || gpa != nil, pfn != nil].filter { $0 }.count
        guard subjects == 1 else { throw ValidationError("name exactly one of --gmem/--offset, --vm/--gpa, --pfn") }
        if (gmem != nil) != (offset != nil) { throw ValidationError("--gmem and --offset go together") }
        if (vm != nil) != (gpa != nil) { throw ValidationError("--vm and --gpa go together") }
    }

    func run() throws {
        let store = try self.store.openForReading()
        let subject: History.Subject
        if let gmem, let offset {
            subject = .file(gmem: gmem, offset: offset.value & ~4095, size: size?.value ?? 4096)
        } else if let vm, let gpa {
            subject = .guest(vm: vm, gpa: gpa.value & ~4095, size: size?.value ?? 4096)
        } else {
            subject = .frame(pfn: pfn!.value, npages: size?.value ?? 1)
        }
        let history = History(store: store)
        do {
            // Both formats are written entry by entry: a history of a whole busy file is never
            // held in memory.
            switch format {
            case .json:
                var first = true
                try failing {
                    try store.database.readTransaction {
                        try history.forEachEntry(for: subject, bodies: true) { entry in
                            let element = HistoryFormat.jsonElement(entry, original: original ? try store.originalLine(of: entry.seq) : nil)
                            writeRaw((first ? "[\n" : ",\n") + element)
                            first = false
                        }
                    }
                }
                writeLine(Array((first ? "[]" : "\n]").utf8))
            case .text:
                var text = HistoryFormat.TextWriter()
                try failing {
                    try store.database.readTransaction {
                        try history.forEachEntry(for: subject) { entry in
                            text.append(entry)
                            if original, let line = try store.originalLine(of: entry.seq) { text.append(original: line) }
                            if text.pendingCount >= 64 << 10 { writeRaw(text.drain()) }
                        }
                    }
                }
                writeLine(text.entries == 0 ? text.utf8 : text.drain())
            }
        } catch let error as History.Unplaced {
            printError("gmem-audit: \(error)")
            throw ExitCode(65)
        }
    }
}
