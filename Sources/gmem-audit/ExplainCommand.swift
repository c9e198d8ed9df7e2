import ArgumentParser
import GmemPolicy
import GmemStore

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "A stored finding with its causal chain: each related event and the triggering one, oldest first, with the pages before and after."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @OptionGroup var store: ReadingStoreOptions

    @Argument(help: "The finding's id, as `audit` prints it.")
    var finding: Int64

    @Option(help: "A policy file: the finding is shown at the severity it gives.")
    var policy: String?

    @Option(help: "Output format.")
    var format: Format = .text

    @Flag(help: "With each event, the line of the input it was read from, as given.")
    var original = false

    func run() throws {
        var policySeverity: Policy?
        if let policy {
            do throws(PolicyError) {
                policySeverity = try Policy.load(path: policy)
            } catch {
                printError("gmem-audit: \(error)")
                throw error.isMissing ? Exit.noInput : Exit.dataError
            }
        }
        let store = try self.store.openForReading()
        let explanation = try failing {
            try store.database.readTransaction { () throws -> Explanation? in
                guard var explanation = try Explainer(store: store).explain(id: finding) else { return nil }
                if original {
                    for index in explanation.steps.indices {
                        explanation.steps[index].original = try store.originalLine(of: explanation.steps[index].seq)
                    }
                }
                return explanation
            }
        }
        guard let explanation else {
            let audited = try failing { try store.auditedSeq() }
            printError("gmem-audit: no finding \(finding) in \(self.store.path)"
                + (audited == 0 ? "; run `gmem-audit audit` first" : "; `gmem-audit audit` lists the stored findings"))
            throw Exit.noInput
        }
        let severity = policySeverity?.severity(of: explanation.finding.rule, found: explanation.finding.severity)
        switch format {
        case .text: print(ExplainFormat.text(explanation, severity: severity))
        case .json: print(ExplainFormat.json(explanation, severity: severity))
        }
    }
}
