import ArgumentParser
import GmemStore

@main
struct GmemAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gmem-audit",
        abstract: "The ledger of guest_memfd pages: record every pin, release, conversion and zap, replay page state, audit it.",
        subcommands: [
            IngestCommand.self, StateCommand.self, HistoryCommand.self, VerifyCommand.self, DemoCommand.self, GenerateCommand.self,
            AuditCommand.self, ExplainCommand.self,
            ExportCommand.self, ReportCommand.self,
        ]
    )
}
