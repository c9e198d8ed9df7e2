import Testing

@testable import GmemStore

/// `EventPages`, the state of an event's pages read once for the rules to share, gives the
/// spans that walking the page map gives (`RuleContext.spans(of:where:)`), for every predicate
/// a rule asks, across pieces and files.
@Suite struct EventPagesTests {
    /// The predicates the rules ask of the pages an event concerns, and two that split runs finely.
    static let predicates: [(String, @Sendable (PageState) -> Bool)] = [
        ("every page", { _ in true }),
        ("td pinned", { $0.pins.td > 0 }),
        ("host pinned", { $0.pins.hasHostPin }),
        ("iommu or vfio", { $0.pins.iommu > 0 || $0.pins.vfio > 0 }),
        ("pinned", { !$0.pins.isEmpty }),
        ("gup unpinned", { $0.pins[.gup] == 0 }),
        ("private", { $0.shareability == .private }),
        ("private or quarantined", { $0.shareability == .private || $0.quarantined }),
        ("unrequested private mapped", { $0.shareability == .private && $0.mapped && $0.requested != .shared }),
        ("accepted", { $0.accepted }),
        ("mapped", { $0.mapped }),
        ("not mapped", { !$0.mapped }),
        ("removal fails, upstream", { KernelProfile.upstream2026.removalFails($0) }),
        ("removal fails, rfc", { KernelProfile.rfc2025.removalFails($0) }),
    ]

    /// The context of `event` in `engine`'s state, without shared pages (the rules walk the map).
    private func context(_ event: Event, _ engine: Engine, seq: Int64) -> RuleContext {
        RuleContext(seq: seq, event: event, verdict: engine.evaluate(event), state: engine.state, memory: AuditMemory())
    }

    /// Every event of misbehaving generated logs under both profiles, every predicate: the
    /// shared pages and the walk agree, and the shared pages were asked something.
    @Test(arguments: [KernelProfile.rfc2025, .upstream2026])
    func sharedPagesGiveTheWalksSpansOnGeneratedLogs(kernel: KernelProfile) {
        var configuration = LogGenerator.Configuration()
        configuration.events = 4_000
        configuration.seed = 23
        configuration.misbehaviour = 0.1
        configuration.kernel = kernel
        var engine = Engine()
        var compared = 0
        for (index, event) in LogGenerator(configuration).enumerated() {
            let walked = context(event, engine, seq: Int64(index + 1))
            if !walked.pieces.isEmpty {
                let pages = EventPages(walked.pieces, in: walked.state)
                for (name, predicate) in Self.predicates {
                    let shared = pages.spans(where: predicate)
                    #expect(shared == walked.spans(where: predicate), "seq \(index + 1), \(name)")
                    if !shared.isEmpty { compared += 1 }
                }
            }
            engine.apply(event)
        }
        #expect(compared > 1_000)
    }

    /// One gpa range over two memslots of one file whose pages touch: the spans join across
    /// the pieces; with one page mapped differently they split where the state does.
    @Test func spansJoinAcrossPiecesOfOneFile() {
        let page = pageSize
        var engine = Engine()
        for event in [
            Event(.vmCreate(vm: "td", type: "tdx", tdxConnect: false)),
            Event(.gmemCreate(vm: "td", gmem: "g", size: 16 * page, flags: [], folioSize: page)),
            Event(.bind(vm: "td", gmem: "g", slot: 1, gpa: 0x10_0000, size: 2 * page, offset: 0, hva: nil)),
            Event(.bind(vm: "td", gmem: "g", slot: 2, gpa: 0x10_0000 + 2 * page, size: 2 * page, offset: 2 * page, hva: nil)),
            Event(.map(.guest(vm: "td", gpa: 0x10_0000, size: 3 * page))),
        ] {
            engine.apply(event)
        }
        let convert = Event(.convert(.guest(vm: "td", gpa: 0x10_0000, size: 4 * page), to: .shared))
        let walked = context(convert, engine, seq: 6)
        #expect(walked.pieces.count == 2)
        let pages = EventPages(walked.pieces, in: walked.state)
        #expect(pages.spans(where: { _ in true }) == [FileSpan(file: 0, pages: 0..<4)])
        #expect(pages.spans(where: { $0.mapped }) == [FileSpan(file: 0, pages: 0..<3)])
        #expect(pages.spans(where: { !$0.mapped }) == [FileSpan(file: 0, pages: 3..<4)])
        for (name, predicate) in Self.predicates {
            #expect(pages.spans(where: predicate) == walked.spans(where: predicate), "\(name)")
        }
    }

    /// Two memslots whose pages follow each other by number but lie in two files: the spans
    /// stay apart.
    @Test func spansOfTwoFilesStayApart() {
        let page = pageSize
        var engine = Engine()
        for event in [
            Event(.vmCreate(vm: "td", type: "tdx", tdxConnect: false)),
            Event(.gmemCreate(vm: "td", gmem: "a", size: 4 * page, flags: [], folioSize: page)),
            Event(.gmemCreate(vm: "td", gmem: "b", size: 4 * page, flags: [], folioSize: page)),
            Event(.bind(vm: "td", gmem: "a", slot: 1, gpa: 0x10_0000, size: 2 * page, offset: 0, hva: nil)),
            Event(.bind(vm: "td", gmem: "b", slot: 2, gpa: 0x10_0000 + 2 * page, size: 2 * page, offset: 2 * page, hva: nil)),
        ] {
            engine.apply(event)
        }
        let convert = Event(.convert(.guest(vm: "td", gpa: 0x10_0000, size: 4 * page), to: .shared))
        let walked = context(convert, engine, seq: 6)
        let pages = EventPages(walked.pieces, in: walked.state)
        let expected = [FileSpan(file: 0, pages: 0..<2), FileSpan(file: 1, pages: 2..<4)]
        #expect(pages.spans(where: { _ in true }) == expected)
        #expect(walked.spans(where: { _ in true }) == expected)
    }

    /// The auditor shares the pages of conversions only, and its findings do not depend on it
    /// (`AuditCatalogPathTests` compares them event by event with the path that walks).
    @Test func onlyConversionsShareTheirPages() {
        let range = MemoryRange.file(gmem: "g", offset: 0, size: pageSize)
        #expect(EventPages.areShared(by: .convert(range, to: .shared)))
        #expect(EventPages.areShared(by: .convert(range, to: .private)))
        #expect(!EventPages.areShared(by: .map(range)))
        #expect(!EventPages.areShared(by: .zap(range, reason: "host")))
    }
}
