import ArgumentParser
import Foundation
import GmemStore

struct UpgradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Copy a store made before schema 1 into a new store: every event re-ingested verbatim, every hash and the head unchanged.",
        discussion: "The old store is only read. Findings are not copied: run `audit` on the new store. Every other command refuses an old store and names this one."
    )

    @Argument(help: "The store made before schema 1.")
    var old: String

    @Argument(help: "The new store to write (must not exist).")
    var new: String

    func run() throws {
        let summary = try failing { try StoreUpgrade.upgrade(from: old, to: new) }
        print("\(terminalSafe(old)) → \(terminalSafe(new)): \(summary.batches) batches, \(summary.events) events")
        print("head: \(summary.head)")
    }
}
