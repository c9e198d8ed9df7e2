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
        let guessed = body.chained(after: other)
        #expect(guessed.link(after: other) == HashChain.link(previous: other, canonical: body.bytes))
        #expect(guessed.link(after: genesis) == HashChain.link(previous: genesis, canonical: body.bytes))
        #expect(guessed.link(after: genesis) != guessed.link(after: other))
    }
}
