import Testing
@testable import GmemStore

/// A verdict's pieces (`Pieces`): one kept inline, more in an array; always the pieces appended,
/// in order, as an array of them would be.
@Suite struct PiecesTests {
    static func piece(_ number: Int) -> Piece {
        Piece(file: number % 3, pages: UInt64(number)..<UInt64(number + 1 + number % 4), address: UInt64(number) * 0x1000)
    }

    @Test("appending 0 to 6 pieces gives what an array gives: count, order, first, equality, from an array")
    func appendMatchesArray() {
        for total in 0...6 {
            var pieces = Pieces()
            var model: [Piece] = []
            for number in 0..<total {
                pieces.append(Self.piece(number))
                model.append(Self.piece(number))
                #expect(Array(pieces) == model)
                #expect(pieces.count == model.count && pieces.first == model.first && pieces.last == model.last)
            }
            #expect(pieces.isEmpty == model.isEmpty)
            #expect(pieces == Pieces(model))
            #expect(Array(Pieces(model)) == model)
            // Differing pieces make unequal verdicts, one piece or more.
            if total > 0 {
                var other = model
                other[total - 1].address += 0x1000
                #expect(pieces != Pieces(other))
                #expect(pieces != Pieces(Array(model.dropLast())))
            }
        }
        #expect(Pieces(Self.piece(7)) == [Self.piece(7)])
        #expect(Pieces() == [])
    }

    @Test("a verdict of one piece and one of the same piece built as an array are equal")
    func verdictEquality() {
        var one = Verdict()
        one.pieces = Pieces(Self.piece(1))
        var built = Verdict()
        built.pieces.append(Self.piece(1))
        #expect(one == built)
        built.pieces.append(Self.piece(2))
        #expect(one != built && built.pieces.map(\.address) == [0x1000, 0x2000])
    }
}
