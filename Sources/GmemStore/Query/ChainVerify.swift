/// What `verify A.db B.db …` found: each store's own report, and the links between them.
public struct ChainReport: Sendable {
    /// One store of the chain: its name as given, its own verify report, where it continues
    /// from, and the chain seqs its events hold (its local seqs shifted by the events before).
    public struct Link: Sendable {
        public var name: String
        public var report: VerifyReport
        public var continuation: Continuation?
        /// The chain seq of its seq 1 minus one: the events before it in the chain.
        public var offset: Int64
    }

    public var links: [Link] = []
    /// Problems of the chain as a whole, each naming the store and seq where the link breaks.
    public var problems: [String] = []

    public var passed: Bool { problems.isEmpty && links.allSatisfy(\.report.passed) }
}

/// Verifies a chain of stores end to end: every store as `Verifier` does, and each store after
/// the first continues the one before it, at its head (seq and hash) with its engine state
/// there (docs/STORE.md "A chain of stores"). A store continued from another that is not the
/// one before it, a missing store, or a changed record breaks the chain at that link.
public struct ChainVerifier {
    /// The stores in chain order, each with the name the problems give it.
    public let stores: [(name: String, store: Store)]

    public init(stores: [(name: String, store: Store)]) {
        self.stores = stores
    }

    public func run(progress: ((String, Int64, Int64) -> Void)? = nil) throws -> ChainReport {
        var chain = ChainReport()
        var previous: (name: String, seq: Int64, hash: [UInt8], state: [UInt8])?
        var offset: Int64 = 0
        for (name, store) in stores {
            let report = try Verifier(store: store).run { seq, head in progress?(name, seq, head) }
            let continuation: Continuation?
            do {
                continuation = try store.continuation()
            } catch {
                chain.problems.append("\(name): its continuation record cannot be read: \(error)")
                continuation = nil
            }
            if let previous {
                if let continuation {
                    if continuation.seq != previous.seq || continuation.head != previous.hash {
                        chain.problems.append(
                            "\(name) seq 1: the link is broken: it continues '\(continuation.store)' at seq \(continuation.seq) "
                                + "hash \(HashChain.hex(continuation.head)), but \(previous.name)'s head is seq \(previous.seq) hash \(HashChain.hex(previous.hash))"
                                + " (a store of the chain is missing, swapped or changed)")
                    } else if continuation.stateDigest != previous.state {
                        chain.problems.append(
                            "\(name) seq 1: the engine state it carried over is not \(previous.name)'s at seq \(previous.seq): the link was changed")
                    }
                } else {
                    chain.problems.append("\(name): it starts a chain of its own; it does not continue \(previous.name) (seq \(previous.seq))")
                }
            }
            // The previous store's own offset continues from what it continued, when it is first.
            if previous == nil, let continuation { offset = continuation.seq }
            chain.links.append(ChainReport.Link(name: name, report: report, continuation: continuation, offset: offset))
            let head = try store.headLink()
            let state = try store.engine(at: head.seq).state
            previous = (name, head.seq, head.hash, Continuation.digest(of: state))
            offset += head.seq
        }
        return chain
    }
}

extension Verifier {
    /// For a continuing store: its record reads, and the state at seq 0 (the snapshot, with its
    /// closed files) is the one whose digest the record keeps. Takes the closed files stored at
    /// seq 0 out of `closedFiles` (they are checked here). Returns whether the store continues
    /// another.
    func checkContinuation(snapshots: Set<Int64>, closedFiles: inout [Int64: [(file: Int, state: [UInt8])]], problem: Problem) throws -> Bool {
        guard let text = try store.continuationRecord() else { return false }
        closedFiles.removeValue(forKey: 0)
        guard let continuation = Continuation(record: text) else {
            problem(1, "the continuation record is not one (\(text)): it was changed")
            return true
        }
        guard snapshots.contains(0) else {
            problem(1, "the state it continues from (the snapshot at seq 0) is missing: it was deleted")
            return true
        }
        let state: GmemState
        do {
            state = try store.snapshot(atOrBefore: 0).state
        } catch {
            problem(1, "the state it continues from (the snapshot at seq 0) cannot be read (\(error)): it was changed")
            return true
        }
        if Continuation.digest(of: state) != continuation.stateDigest {
            problem(1, "the state it continues from (the snapshot at seq 0) is not the one its continuation record names: it was changed")
        }
        return true
    }
}
