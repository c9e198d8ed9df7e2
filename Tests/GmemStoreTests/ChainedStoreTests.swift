import Foundation
import Testing

@testable import GmemStore

/// A chain of stores (`Store.createContinuing`, docs/STORE.md "A chain of stores"): each store
/// after the first continues the one before it from its head, the chain verifies end to end, and
/// a swapped, missing or changed link is refused with the store and seq named.
@Suite struct ChainedStoreTests {
    /// The log cut in three: a TD that maps, converts and zaps across the rotations.
    static let parts = [
        """
        {"op":"vm_create","vm":"td","tdx_connect":true}
        {"op":"gmem_create","vm":"td","gmem":"g","size":"0x10000","flags":["mmap"]}
        {"op":"bind","vm":"td","gmem":"g","slot":1,"gpa":"0x80000000","size":"0x10000","offset":"0x0"}
        {"op":"populate","gmem":"g","offset":"0x0","size":"0x10000","pfn":"0x1000"}
        {"op":"map","vm":"td","gpa":"0x80000000","size":"0x10000"}
        """,
        """
        {"op":"accept","vm":"td","gpa":"0x80000000","size":"0x4000"}
        {"op":"gmem_create","vm":"td","gmem":"old","size":"0x2000"}
        {"op":"gmem_close","gmem":"old"}
        {"op":"release","gmem":"g","offset":"0x0","size":"0x1000","holder":"td"}
        """,
        """
        {"op":"convert_request","vm":"td","gpa":"0x80000000","size":"0x1000","to":"shared"}
        {"op":"convert","gmem":"g","offset":"0x0","size":"0x1000","to":"shared","result":"ok"}
        {"op":"convert","gmem":"g","offset":"0x1000","size":"0x1000","to":"shared"}
        {"op":"host_access","gmem":"g","offset":"0x0","size":"0x1000","result":"ok"}
        """,
    ]

    /// Three stores A → B → C in `directory`, each with its part of the log.
    static func chain(in temporary: TemporaryStore) throws -> [(name: String, store: Store)] {
        let a = try temporary.open()
        try ingest(parts[0], into: a, name: "a.jsonl")
        let b = try Store.createContinuing(from: a, at: temporary.sibling("b.db"))
        try ingest(parts[1], into: b, name: "b.jsonl")
        let c = try Store.createContinuing(from: b, at: temporary.sibling("c.db"))
        try ingest(parts[2], into: c, name: "c.jsonl")
        return [("a.db", a), ("b.db", b), ("c.db", c)]
    }

    @Test func aChainOfThreeVerifiesAndEndsInTheStateOfOneStore() throws {
        let temporary = try TemporaryStore("a.db")
        let stores = try Self.chain(in: temporary)
        let report = try ChainVerifier(stores: stores).run()
        #expect(report.passed, "\(report.problems) \(report.links.map(\.report.problems))")
        #expect(report.links.map(\.offset) == [0, 5, 9])
        #expect(try stores[1].store.continuation() == Continuation(
            store: "a.db", seq: 5, head: try stores[0].store.headLink().hash,
            stateDigest: Continuation.digest(of: try stores[0].store.engine(at: 5).state)))
        // The last store's state and verdicts are those of the whole log in one store.
        let whole = try TemporaryStore()
        try ingest(Self.parts.joined(separator: "\n"), into: whole.store)
        #expect(try stores[2].store.engine(at: 4).state == whole.store.engine(at: 13).state)
        let chained = try stores.flatMap { try storedEvents($0.store) }
        let single = try storedEvents(whole.store)
        #expect(chained.map(\.expected) == single.map(\.expected))
        #expect(chained.map(\.event.op) == single.map(\.event.op))
        // Findings go on from the carried state: the same rules on the same events.
        try whole.store.audit()
        var chainFindings: [(Int64, String)] = []
        for (index, (_, store)) in stores.enumerated() {
            try store.audit()
            chainFindings += try store.findings().map { ($0.seq + report.links[index].offset, $0.rule) }
        }
        #expect(chainFindings.map { "\($0.0) \($0.1)" } == (try whole.store.findings().map { "\($0.seq) \($0.rule)" }))
        #expect(!chainFindings.isEmpty)
        #expect(!chainFindings.contains { $0.1 == "GM-R13" }, "a continuing store knows the VMs and files before it")
    }

    @Test func aContinuingStoreStartsFromItsGenesisAndIngestsAsUsual() throws {
        let temporary = try TemporaryStore("a.db")
        let a = try temporary.open()
        try ingest(Self.parts[0], into: a)
        let b = try Store.createContinuing(from: a, at: temporary.sibling("b.db"))
        let genesis = try #require(try b.continuation()).genesis
        #expect(try b.headLink() == (0, genesis))
        #expect(genesis != HashChain.genesis)
        #expect(try Verifier(store: b).run().passed)
        try ingest(Self.parts[1], into: b)
        let first = try #require(try b.storedEvent(1))
        #expect(first.hash == HashChain.link(previous: genesis, body: first.body))
        // History of a page of a file created before the rotation.
        let history = try History(store: b).entries(for: .file(gmem: "g", offset: 0, size: 0x1000))
        #expect(history.map(\.seq) == [1, 4])
        #expect(history.first?.before.first?.page.mapped == true)
        // A continuing store is always a new file.
        #expect(throws: StoreError.self) { try Store.createContinuing(from: a, at: temporary.sibling("b.db")) }
    }

    @Test func aSwappedLinkIsRefusedNamingTheStoreAndSeq() throws {
        let temporary = try TemporaryStore("a.db")
        let stores = try Self.chain(in: temporary)
        let report = try ChainVerifier(stores: [stores[0], stores[2], stores[1]]).run()
        #expect(!report.passed)
        #expect(report.problems.first?.hasPrefix("c.db seq 1: the link is broken: it continues 'b.db' at seq 4") == true, "\(report.problems)")
        #expect(report.problems.contains { $0.hasPrefix("b.db seq 1: the link is broken: it continues 'a.db' at seq 5") })
    }

    @Test func aMissingLinkIsRefused() throws {
        let temporary = try TemporaryStore("a.db")
        let stores = try Self.chain(in: temporary)
        let report = try ChainVerifier(stores: [stores[0], stores[2]]).run()
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.contains("but a.db's head is seq 5") == true, "\(report.problems)")
        let reversed = try ChainVerifier(stores: [stores[1], stores[0]]).run()
        #expect(reversed.problems == ["a.db: it starts a chain of its own; it does not continue b.db (seq 4)"])
    }

    @Test func aChangedRecordOrCarriedStateIsCaughtInTheStoreAlone() throws {
        let temporary = try TemporaryStore("a.db")
        let stores = try Self.chain(in: temporary)
        let b = stores[1].store
        // The record names another head seq: the genesis moves, the first event no longer chains.
        let record = try #require(try b.continuationRecord())
        try b.database.execute("UPDATE setting SET value = '\(record.replacingOccurrences(of: "\"seq\":5", with: "\"seq\":4"))' WHERE key = 'continues'")
        let alone = try Verifier(store: b).run()
        #expect(alone.firstBadSeq == 1, "\(alone.problems)")
        #expect(!(try ChainVerifier(stores: stores).run().passed))
        try b.database.execute("UPDATE setting SET value = '\(record)' WHERE key = 'continues'")
        #expect(try ChainVerifier(stores: stores).run().passed)
        // The carried state is changed: another snapshot at seq 0.
        var state = try b.snapshot(atOrBefore: 0).state
        state.vms["td"]?.tdxConnect = false
        let insert = try b.database.prepare("UPDATE snapshot SET state = ? WHERE seq = 0")
        try insert.bind(1, StateCodec.encode(SnapshotFormat.withoutClosedFilePages(state)))
        try insert.run()
        let changed = try Verifier(store: b).run()
        #expect(changed.problems.contains { $0.contains("is not the one its continuation record names") }, "\(changed.problems)")
    }

    @Test func aStoreThatGrewAfterItWasContinuedBreaksTheLink() throws {
        let temporary = try TemporaryStore("a.db")
        let stores = try Self.chain(in: temporary)
        try ingest(#"{"op":"context","tracepoint":"kvm_exit"}"#, into: stores[0].store, name: "late.jsonl")
        let report = try ChainVerifier(stores: stores).run()
        #expect(report.problems == [
            "b.db seq 1: the link is broken: it continues 'a.db' at seq 5 hash \(HashChain.hex(try #require(try stores[1].store.continuation()).head)), "
                + "but a.db's head is seq 6 hash \(HashChain.hex(try stores[0].store.headLink().hash)) (a store of the chain is missing, swapped or changed)",
        ])
    }

    @Test func theCLIVerifiesAChainAndRefusesABrokenOne() throws {
        let temporary = try TemporaryStore("a.db")
        _ = try Self.chain(in: temporary)
        let paths = ["a.db", "b.db", "c.db"].map(temporary.sibling)
        let good = try runCLI(["verify"] + paths)
        #expect(good.status == 0, "\(good.stdout) \(good.stderr)")
        #expect(good.stdout.contains("c.db: continues 'b.db' at seq 4, seqs 1…4 (chain seqs 10…13)"), "\(good.stdout)")
        #expect(good.stdout.contains("verify: ok, a chain of 3 stores"))
        let swapped = try runCLI(["verify", paths[0], paths[2], paths[1]])
        #expect(swapped.status == 2)
        #expect(swapped.stdout.contains("/c.db seq 1: the link is broken: it continues 'b.db' at seq 4"), "\(swapped.stdout)")
    }
}
