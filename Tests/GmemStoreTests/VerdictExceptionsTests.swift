import Testing
@testable import GmemStore

/// A verdict keeps `unresolved`, `unresolvedReason` and `blocked` behind one optional box
/// (`Verdict.exceptions`): each field reads back what was written, a verdict whose fields are
/// emptied again equals a fresh one, and equality still sees every field.
@Suite struct VerdictExceptionsTests {
    static let piece = Piece(file: 0, pages: 2..<4, address: 0x2000)

    @Test func eachFieldReadsBackAndTheOthersStayEmpty() {
        var verdict = Verdict()
        verdict.blocked = [Self.piece]
        #expect(verdict.blocked == [Self.piece])
        #expect(verdict.hasBlocked)
        #expect(verdict.unresolved.isEmpty)
        #expect(verdict.unresolvedReason == nil)
        verdict.unresolved.append(0x1000..<0x3000)
        verdict.unresolvedReason = "unknown gmem 'g'"
        #expect(verdict.unresolved == [0x1000..<0x3000])
        #expect(verdict.unresolvedReason == "unknown gmem 'g'")
        #expect(verdict.blocked == [Self.piece], "setting the other fields keeps blocked")
    }

    @Test func emptiedAgainEqualsAFreshVerdict() {
        var verdict = Verdict()
        verdict.blocked = [Self.piece]
        verdict.unresolved = [0..<0x1000]
        verdict.unresolvedReason = "no memslot"
        #expect(verdict != Verdict())
        verdict.blocked = []
        #expect(verdict != Verdict())
        verdict.unresolved = []
        #expect(verdict != Verdict())
        verdict.unresolvedReason = nil
        #expect(verdict == Verdict())
        #expect(!verdict.hasBlocked)
    }

    @Test func equalityComparesEveryField() {
        var blocked = Verdict()
        blocked.blocked = [Self.piece]
        var unresolved = Verdict()
        unresolved.unresolved = [0..<0x1000]
        var reason = Verdict()
        reason.unresolvedReason = "unknown vm 'td'"
        var other = Verdict()
        other.blocked = [Piece(file: 1, pages: 2..<4, address: 0x2000)]
        let verdicts = [Verdict(), blocked, unresolved, reason, other]
        for (i, lhs) in verdicts.enumerated() {
            for (j, rhs) in verdicts.enumerated() {
                #expect((lhs == rhs) == (i == j), "verdicts \(i) and \(j)")
            }
        }
        var copy = blocked
        copy.blocked = [Self.piece]
        #expect(copy == blocked, "a box rebuilt with the same fields is equal")
    }
}
