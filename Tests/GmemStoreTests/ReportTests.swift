import Testing
@testable import GmemStore

/// The report is one self-contained page whose timeline says what the state says, with the
/// divergences and (when the store has them) the findings marked and listed.
@Suite struct ReportTests {
    func scenarioStore(_ temporary: TemporaryStore, _ prefix: String) throws -> Store {
        let store = try temporary.open()
        let scenario = SeedScenarios.all.first { $0.name.hasPrefix(prefix) }!
        _ = try SeedScenarios.ingest(scenario, into: store)
        return store
    }

    @Test func theLastColumnShowsTheFinalState() throws {
        let temporary = try TemporaryStore()
        let store = try scenarioStore(temporary, "01")
        let timeline = try ReportTimeline.build(store: store, columns: 50, rows: 16)
        let state = try store.engine(at: store.headLink().seq).state
        #expect(timeline.columns == min(50, Int(try store.headLink().seq)))
        for file in state.files where file.isOpen {
            guard let lane = timeline.lanes.first(where: { $0.gmem == file.name }) else {
                Issue.record("no lane for \(file.name)")
                continue
            }
            let cells = ReportTimeline.raster(file, rows: 16)
            for row in 0..<16 {
                let block = lane.blocks.first { $0.row <= row && row < $0.row + $0.height && $0.column + $0.width == timeline.columns }
                #expect(block?.cell == cells[row], "\(file.name) row \(row)")
            }
        }
    }

    @Test func aRasterRowAggregatesItsPages() {
        var pages = RangeMap<PageState>(0..<64, PageState(shareability: .private))
        pages.update(0..<3) { _, page in
            var page = page!
            page.shareability = .shared
            page.mapped = true
            return page
        }
        pages.update(40..<41) { _, page in
            var page = page!
            page.pins.td = 1
            page.quarantined = true
            return page
        }
        let file = GmemFile(name: "g", vm: "v", size: 64 * pageSize, flags: [], folioSize: 4096, pages: pages)
        let cells = ReportTimeline.raster(file, rows: 8)
        #expect(cells[0].bits == ReportTimeline.Cell.shared | ReportTimeline.Cell.private | ReportTimeline.Cell.mapped)
        #expect(cells[1].bits == ReportTimeline.Cell.private)
        #expect(cells[5].bits == ReportTimeline.Cell.private | ReportTimeline.Cell.pinned | ReportTimeline.Cell.quarantined)
    }

    @Test func thePageIsSelfContainedAndListsFindingsAndDivergences() throws {
        let temporary = try TemporaryStore()
        let store = try scenarioStore(temporary, "02")
        let divergences = try ReportHTML.divergences(in: store)
        #expect(divergences.count == (try store.database.scalarInt("SELECT count(*) FROM event WHERE diverged = 1")).map(Int.init))
        // The findings of scenario 02, as the audit stores them.
        _ = try store.audit()
        let findings = try ReportFinding.stored(in: store)
        #expect(findings.count == (try store.findings()).count && !findings.isEmpty)
        let timeline = try ReportTimeline.build(store: store)
        let html = ReportHTML.render(timeline, header: .init(title: "t", head: "1:00"), findings: findings, divergences: divergences)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<svg"))
        #expect(html.contains("GM-R01"))
        #expect(html.contains("conversion to shared of pages the TD has pinned for DMA"))
        #expect(html.contains("Divergences (\(divergences.count))"))
        for lane in timeline.lanes { #expect(html.contains("gmem \(lane.gmem) ")) }
        for external in ["http://", "https://", "<script", "src=", "@import", "url(http"] {
            #expect(!html.contains(external), "the page must not load \(external)")
        }
    }

    @Test func aStoreNotYetAuditedShowsNoFindings() throws {
        let temporary = try TemporaryStore()
        let store = try scenarioStore(temporary, "03")
        #expect(try ReportFinding.stored(in: store).isEmpty)
    }
}
