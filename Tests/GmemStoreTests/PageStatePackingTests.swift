import Testing
@testable import GmemStore

/// `PageState` is stored packed (docs/PERFORMANCE.md, "The engine alone"): every field reads
/// back what was written, independently of the others, and two states are equal exactly when
/// their fields are, whatever was written and undone before.
@Suite struct PageStatePackingTests {
    /// The fields of a state as plain values, to compare against the packed accessors.
    private struct Fields: Equatable {
        var shareability = Shareability.private
        var populated = false
        var frameDelta: Int64?
        var mapped = false
        var accepted = false
        var pins = Pins()
        var requested = ConversionRequest.none
        var quarantined = false

        init(_ page: PageState) {
            shareability = page.shareability
            populated = page.populated
            frameDelta = page.frameDelta
            mapped = page.mapped
            accepted = page.accepted
            pins = page.pins
            requested = page.requested
            quarantined = page.quarantined
        }

        init() {}
    }

    @Test func everyFieldReadsBackWhatWasWrittenAlone() {
        var random = SeededGenerator(seed: 21)
        var page = PageState(shareability: .private)
        var model = Fields()
        let extremes: [UInt32] = [0, 1, 2, UInt32.max - 1, UInt32.max]
        let deltas: [Int64?] = [nil, 0, 1, -1, Int64.min, Int64.max, 0x1234_5678_9abc]
        for step in 0..<20_000 {
            switch random.next() % 9 {
            case 0:
                let value: Shareability = random.next() % 2 == 0 ? .shared : .private
                page.shareability = value
                model.shareability = value
            case 1:
                let value = random.next() % 2 == 0
                page.populated = value
                model.populated = value
            case 2:
                let value = deltas[Int(random.next() % UInt64(deltas.count))]
                page.frameDelta = value
                model.frameDelta = value
            case 3:
                let value = random.next() % 2 == 0
                page.mapped = value
                model.mapped = value
            case 4:
                let value = random.next() % 2 == 0
                page.accepted = value
                model.accepted = value
            case 5:
                let holder = Holder.allCases[Int(random.next() % 4)]
                let value = extremes[Int(random.next() % UInt64(extremes.count))]
                page.pins[holder] = value
                model.pins[holder] = value
            case 6:
                let holder = Holder.allCases[Int(random.next() % 4)]
                page.pins[holder] &+= 1
                model.pins[holder] &+= 1
            case 7:
                let value = [ConversionRequest.none, .shared, .private][Int(random.next() % 3)]
                page.requested = value
                model.requested = value
            default:
                let value = random.next() % 2 == 0
                page.quarantined = value
                model.quarantined = value
            }
            let read = Fields(page)
            #expect(read == model, "step \(step)")
            if read != model { return }
        }
    }

    @Test func equalFieldsMakeEqualStatesWhateverCameBefore() {
        var fresh = PageState(shareability: .shared)
        var touched = PageState(shareability: .private)
        touched.shareability = .shared
        touched.frameDelta = -42
        touched.frameDelta = nil
        touched.pins.gup = 7
        touched.pins.gup = 0
        touched.requested = .private
        touched.requested = .none
        touched.quarantined = true
        touched.quarantined = false
        #expect(touched == fresh)
        #expect(touched.hashValue == fresh.hashValue)
        fresh.pins.iommu = 1
        #expect(touched != fresh)
        touched.pins.vfio = 1
        #expect(touched != fresh)
        touched.pins.vfio = 0
        touched.pins.iommu = 1
        #expect(touched == fresh)
        // A delta of 0 is a recorded frame, not the absence of one.
        var zero = fresh
        zero.frameDelta = 0
        #expect(zero != fresh && zero.frameDelta == 0 && fresh.frameDelta == nil)
    }

    /// The point of the packing: a run of page states in 48 bytes (it was 56; a state 40).
    @Test func aRunTakesFortyEightBytes() {
        #expect(MemoryLayout<PageState>.size <= 25)
        #expect(MemoryLayout<RangeMap<PageState>.Run>.stride == 48)
    }
}
