import ArgumentParser
import GmemStore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the hash chain, SQLite's integrity, and that verdicts and snapshots equal a fresh replay; print the head."
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .customLong("expect-head"), help: "SEQ:HASH printed by an earlier verify: prove the log still holds it.")
    var expectHead: String?

    func run() throws {
        var expected: (Int64, [UInt8])?
        if let expectHead {
            let parts = expectHead.split(separator: ":")
            guard parts.count == 2, let seq = Int64(parts[0]), let hash = HashChain.bytes(hex: String(parts[1])), hash.count == 32 else {
                throw ValidationError("--expect-head takes SEQ:HASH, the head an earlier verify printed (64 hex digits)")
            }
            expected = (seq, hash)
        }
        let store = try self.store.openForReading()
        let report = try failing { try store.database.readTransaction { try Verifier(store: store).run(expectHead: expected) } }
        print("events: \(report.events), snapshots checked: \(report.snapshotsChecked)")
        print("head: \(report.head)")
        if report.passed {
            print("verify: ok")
            return
        }
        for problem in report.problems { print("problem: \(problem)") }
        if let seq = report.firstBadSeq { print("first bad seq: \(seq)") }
        print("verify: FAILED")
        throw Exit.verifyFailed
    }
}
