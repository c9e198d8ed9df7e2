import Testing
@testable import GmemStore

/// The frames a populate, punch hole or close frees: the engine frees touching page runs of one
/// frame delta by one update of the frames map (`Engine.releaseFrames`); these hold that it frees
/// exactly the frames the page-by-page rule frees, no more (a run it must keep in between, a
/// neighbour with another delta) and no fewer.
@Suite struct FrameReleaseTests {
    static let page: UInt64 = 4096

    /// A file of 16 pages: pages 0–7 populated from frame 100, pages 8–15 from frame 500 (touching
    /// runs with different deltas), page 2 mapped and page 5 pinned by GUP (splits of one delta).
    static func prologue() -> [Event] {
        [
            Event(.vmCreate(vm: "a", type: "tdx", tdxConnect: false)),
            Event(.gmemCreate(vm: "a", gmem: "g1", size: 16 * page, flags: ["mmap", "init_shared"], folioSize: page)),
            Event(.populate(.file(gmem: "g1", offset: 0, size: 8 * page), pfn: 100)),
            Event(.populate(.file(gmem: "g1", offset: 8 * page, size: 8 * page), pfn: 500)),
            Event(.map(.file(gmem: "g1", offset: 2 * page, size: page))),
            Event(.pin(.file(gmem: "g1", offset: 5 * page, size: page), holder: .gup)),
        ]
    }

    static func engine(after events: [Event]) -> Engine {
        var engine = Engine()
        for event in events { engine.apply(event) }
        return engine
    }

    @Test func closeKeepsOnlyThePinnedPagesFrame() {
        let engine = Self.engine(after: Self.prologue() + [Event(.gmemClose(gmem: "g1"))])
        #expect(engine.state.frames.runs == [RangeMap.Run(105, 106, FrameOwner(file: 0, pageDelta: -100))])
        #expect(engine.state.frames.invariantViolation() == nil)
    }

    @Test func populateAgainFreesEveryOldFrame() {
        let engine = Self.engine(after: Self.prologue() + [Event(.populate(.file(gmem: "g1", offset: 0, size: 16 * Self.page), pfn: 900))])
        #expect(engine.state.frames.runs == [RangeMap.Run(900, 916, FrameOwner(file: 0, pageDelta: -900))])
    }

    @Test func punchHoleOfPartOfBothRunsFreesThoseFramesOnly() {
        let engine = Self.engine(after: Self.prologue() + [Event(.punchHole(.file(gmem: "g1", offset: 4 * Self.page, size: 8 * Self.page)))])
        #expect(engine.state.frames.runs == [
            RangeMap.Run(100, 104, FrameOwner(file: 0, pageDelta: -100)),
            RangeMap.Run(504, 508, FrameOwner(file: 0, pageDelta: -492)),
        ])
    }
}
