import ArgumentParser
import GmemStore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the hash chain, SQLite's integrity, and that verdicts, snapshots and Merkle roots equal a fresh replay; print the head."
    )

    @OptionGroup var store: ReadingStoreOptions

    @Option(name: .customLong("expect-head"), help: "SEQ:HASH printed by an earlier verify: prove the log still holds it.")
    var expectHead: String?

    @Option(help: "Print the Merkle inclusion proof (RFC 6962 audit path) of this seq instead of verifying.")
    var prove: Int64?

    @Option(name: .customLong("tree-size"), help: "With --prove: the checkpoint's number of events (default: the whole log).")
    var treeSize: Int64?

    @Argument(help: "A chain of stores, oldest first (each made by rotation continues the one before it): verify each and every link between them, instead of --db.")
    var chain: [String] = []

    func validate() throws {
        if treeSize != nil, prove == nil { throw ValidationError("--tree-size goes with --prove") }
        if !chain.isEmpty, prove != nil || expectHead != nil {
            throw ValidationError("a chain of stores is verified as a whole: --prove and --expect-head take one store (--db)")
        }
    }

    func run() throws {
        if !chain.isEmpty { return try verifyChain() }
        var expected: (Int64, [UInt8])?
        if let expectHead {
            let parts = expectHead.split(separator: ":")
            guard parts.count == 2, let seq = Int64(parts[0]), let hash = HashChain.bytes(hex: String(parts[1])), hash.count == 32 else {
                throw ValidationError("--expect-head takes SEQ:HASH, the head an earlier verify printed (64 hex digits)")
            }
            expected = (seq, hash)
        }
        let store = try self.store.openForReading()
        if let prove {
            try printProof(seq: prove, store: store)
            return
        }
        let progress = Progress("verify")
        let report = try failing {
            try store.database.readTransaction {
                try Verifier(store: store).run(expectHead: expected) { seq, head in
                    progress.update(done: seq, total: head, events: seq)
                }
            }
        }
        progress.finish()
        print("events: \(report.events), snapshots checked: \(report.snapshotsChecked), Merkle subtree roots checked: \(report.merkleNodesChecked)")
        print("head: \(report.head)")
        print("merkle root: \(report.merkleRoot)")
        if report.passed {
            print("verify: ok (keep the head and the root elsewhere: verify --expect-head \(report.head) proves the log was not cut short)")
            return
        }
        for problem in report.problems { print("problem: \(terminalSafe(problem))") }
        if let seq = report.firstBadSeq { print("first bad seq: \(seq)") }
        print("verify: FAILED")
        throw Exit.verifyFailed
    }

    /// `verify A.db B.db …`: each store, then each link; the chain's head is the last store's.
    private func verifyChain() throws {
        var stores: [(name: String, store: Store)] = []
        for path in chain {
            stores.append((path, try failing { () throws(StoreError) in try Store(path: path, access: .readOnly(immutable: self.store.immutable)) }))
        }
        let progress = Progress("verify")
        let report = try failing {
            try ChainVerifier(stores: stores).run { _, seq, head in progress.update(done: seq, total: head, events: seq) }
        }
        progress.finish()
        for link in report.links {
            let events = link.report.events
            let span = events == 0 ? "no events" : "seqs 1…\(events) (chain seqs \(link.offset + 1)…\(link.offset + events))"
            let from = link.continuation.map { " continues '\(terminalSafe($0.store))' at seq \($0.seq)," } ?? ""
            print("\(terminalSafe(link.name)):\(from) \(span), head \(link.report.head): \(link.report.passed ? "ok" : "FAILED")")
            for problem in link.report.problems { print("problem: \(terminalSafe(link.name)): \(terminalSafe(problem))") }
        }
        for problem in report.problems { print("problem: \(terminalSafe(problem))") }
        if report.passed {
            print("verify: ok, a chain of \(report.links.count) stores (keep the last head elsewhere)")
            return
        }
        print("verify: FAILED")
        throw Exit.verifyFailed
    }

    private func printProof(seq: Int64, store: Store) throws {
        let proof: InclusionProof
        do {
            proof = try failing {
                try store.database.readTransaction {
                    try MerkleTree(store: store).proof(seq: seq, treeSize: treeSize ?? store.headLink().seq)
                }
            }
        } catch let error as MerkleTree.OutOfRange {
            printError("gmem-audit: \(error)")
            throw Exit.dataError
        }
        print("seq: \(proof.seq)")
        print("leaf index: \(proof.seq - 1)")
        print("tree size: \(proof.treeSize)")
        print("leaf: \(HashChain.hex(proof.leafHash))  (SHA-256 of 0x00 and the event's canonical body)")
        print("root: \(proof.treeSize):\(HashChain.hex(proof.root))")
        print("path (\(proof.path.count) hashes, leaf to root, RFC 6962):")
        for hash in proof.path { print("  \(HashChain.hex(hash))") }
        print(proof.isValid ? "proof: ok" : "proof: INVALID")
        if !proof.isValid { throw Exit.verifyFailed }
    }
}
