import Foundation
import Testing
@testable import GmemStore

/// The reading thread of a single-input ingest takes each event's chain link ahead, guessing
/// that the input's events are appended one after another from the batch's head
/// (`CanonicalBody.chained`). Whatever breaks the guess, the stored chain must be the one the
/// batch's thread would have computed: `verify` recomputes every link from the columns.
@Suite struct ChainAheadTests {
    /// `count` generated events with producer ids as JSON Lines, with the lines at `repeats`
    /// (0-based) written twice in a row.
    static func lines(_ count: Int, seed: UInt64, repeats: Set<Int> = []) -> String {
        var configuration = LogGenerator.Configuration()
        configuration.events = count
        configuration.seed = seed
        configuration.ids = true
        var generator = LogGenerator(configuration)
        var text = ""
        var index = 0
        while let event = generator.next() {
            let line = event.canonicalJSON + "\n"
            text += line
            if repeats.contains(index) { text += line }
            index += 1
        }
        return text
    }

    @Test("an input read ahead: every link taken ahead is the one verify recomputes, batch after batch")
    func linksTakenAhead() throws {
        let temporary = try TemporaryStore()
        let first = try temporary.file("first.jsonl", Self.lines(3000, seed: 3))
        let second = try temporary.file("second.jsonl", Self.lines(2000, seed: 4))
        let one = try MergeIngest().ingest([(first, .jsonl)], into: temporary.store)
        let two = try MergeIngest().ingest([(second, .jsonl)], into: temporary.store)
        #expect(one.batch.added == 3000 && two.batch.added == 2000)
        #expect(try Verifier(store: temporary.store).run().passed)
    }

    @Test("an event skipped as a duplicate breaks the guess: the links after it are computed again, and verify agrees")
    func duplicateBreaksTheGuess() throws {
        let temporary = try TemporaryStore()
        // A line repeated in the middle of a block, one at a block's end, and the last line.
        let path = try temporary.file("dup.jsonl", Self.lines(3000, seed: 5, repeats: [1234, 511, 2999]))
        let summary = try MergeIngest().ingest([(path, .jsonl)], into: temporary.store)
        #expect(summary.batch.added == 3000)
        #expect(summary.batch.skipped == 3)
        #expect(try Verifier(store: temporary.store).run().passed)
        // The same input beside an empty one: two inputs, so no link is taken ahead; the same head.
        let reference = try TemporaryStore()
        _ = try MergeIngest().ingest([(path, .jsonl), (try reference.file("empty.jsonl", ""), .jsonl)], into: reference.store)
        #expect(try reference.store.headLink().hash == temporary.store.headLink().hash, "two inputs (no guess) and one input (guessed) give different heads")
    }

    @Test("a link taken after another head is not used")
    func linkAfterAnotherHead() {
        let body = CanonicalBody(of: Event(.vmCreate(vm: "td1", type: "tdx", tdxConnect: false)))
        let genesis = [UInt8](repeating: 0, count: 32)
        let other = [UInt8](repeating: 7, count: 32)
        var frontier = MerkleFrontier()
        frontier.append(level: 0, hash: Merkle.leafHash(body: "earlier"))
        let guessed = body.chained(after: other, frontier: &frontier)
        #expect(guessed.link(after: other).link == HashChain.link(previous: other, canonical: body.bytes))
        #expect(guessed.link(after: other).nodes == [Merkle.nodeHash(Merkle.leafHash(body: "earlier"), body.leaf)])
        #expect(guessed.link(after: genesis).link == HashChain.link(previous: genesis, canonical: body.bytes))
        #expect(guessed.link(after: genesis).nodes == nil, "nodes hashed on another head's frontier were offered")
        #expect(guessed.link(after: genesis).link != guessed.link(after: other).link)
    }

    /// Every stored Merkle node of `store`, in key order.
    static func merkleNodes(_ store: Store) throws -> [String] {
        let statement = try store.database.prepare("SELECT level, idx, hex(hash) FROM merkle_node ORDER BY level, idx")
        var rows: [String] = []
        while try statement.step() { rows.append("\(statement.int(0)) \(statement.int(1)) \(statement.string(2))") }
        return rows
    }

    @Test("Merkle nodes hashed ahead on the reading thread are the ones the batch's thread hashes, across batches and a broken guess")
    func merkleNodesTakenAhead() throws {
        // 2^storedLevel leaves and more per batch, so that stored nodes are hashed ahead; the
        // second batch starts on an odd frontier; the third repeats lines (a broken guess).
        let texts = [Self.lines(5000, seed: 11), Self.lines(3001, seed: 12), Self.lines(4000, seed: 13, repeats: [700, 2047, 3999])]
        let guessed = try TemporaryStore()
        let reference = try TemporaryStore()
        for (index, text) in texts.enumerated() {
            let path = try guessed.file("in\(index).jsonl", text)
            _ = try MergeIngest().ingest([(path, .jsonl)], into: guessed.store)
            // Beside an empty input: two inputs, nothing is chained or hashed ahead.
            _ = try MergeIngest().ingest([(path, .jsonl), (try reference.file("empty\(index).jsonl", ""), .jsonl)], into: reference.store)
            #expect(try guessed.store.headLink().hash == reference.store.headLink().hash)
            let nodes = try Self.merkleNodes(guessed.store)
            #expect(!nodes.isEmpty)
            #expect(nodes == (try Self.merkleNodes(reference.store)), "batch \(index): a Merkle node hashed ahead differs")
        }
        #expect(try Verifier(store: guessed.store).run().passed)
    }

    @Test("a frontier given its inner nodes hashed ahead ends where hashing them itself ends; a wrong count is hashed again")
    func frontierTakesNodesHashedAhead() {
        var generator = SystemRandomNumberGenerator()
        var plain = MerkleFrontier()
        var given = MerkleFrontier()
        var ahead = MerkleFrontier()
        for leafIndex in 0..<777 {
            let leaf = Merkle.leafHash(body: "leaf \(leafIndex) \(UInt64.random(in: 0...UInt64.max, using: &generator))")
            var plainCompleted: [String] = []
            var givenCompleted: [String] = []
            plain.append(level: 0, hash: leaf) { plainCompleted.append("\($0) \($1) \($2)") }
            var nodes: [[UInt8]] = []
            ahead.append(level: 0, hash: leaf) { level, _, hash in if level > 0 { nodes.append(hash) } }
            // Every 50th leaf gets a wrong count of nodes: the frontier hashes them itself.
            if leafIndex % 50 == 49 { nodes.append(leaf) }
            given.append(level: 0, hash: leaf, nodes: nodes) { givenCompleted.append("\($0) \($1) \($2)") }
            #expect(givenCompleted == plainCompleted)
        }
        #expect(given.subtrees == plain.subtrees && given.count == plain.count && given.root == plain.root)
    }
}
