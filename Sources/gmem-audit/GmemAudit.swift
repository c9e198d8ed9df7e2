import ArgumentParser
import Foundation
import GmemStore

@main
struct GmemAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gmem-audit",
        abstract: "The ledger of guest_memfd pages: record every pin, release, conversion and zap, replay page state, audit it.",
        version: GmemVersion.description,
        subcommands: [
            IngestCommand.self, StateCommand.self, HistoryCommand.self, VerifyCommand.self, DemoCommand.self, GenerateCommand.self,
            AuditCommand.self, ExplainCommand.self, RetractCommand.self, WatchCommand.self,
            ExportCommand.self, ReportCommand.self, UpgradeCommand.self,
        ]
    )

    /// Runs the command line; a first word that names no subcommand but is close to one is
    /// answered with the likely one ("did you mean 'state'?") on stderr and exit 64.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let first = arguments.first, !first.hasPrefix("-"), first != "help" {
            let names = configuration.subcommands.compactMap { $0.configuration.commandName }
            if !names.contains(first) {
                var message = "gmem-audit: '\(first)' is not a command"
                if let near = SubcommandSuggestion.nearest(to: first, in: names) { message += "; did you mean '\(near)'?" }
                message += " The commands are \(names.joined(separator: ", ")); see gmem-audit --help."
                printError(message)
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
        }
        main(arguments)
    }
}
