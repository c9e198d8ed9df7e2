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

    /// The markers of each lane of a page, by the lane's name: (seq, rule, x, y) of every
    /// element with a `data-seq`.
    func markers(_ html: String) -> [String: [(seq: Int64, rule: String, x: Double, y: Double)]] {
        func attribute(_ name: String, in element: Substring) -> String? {
            guard let start = element.range(of: " \(name)=\"") else { return nil }
            return String(element[start.upperBound...].prefix { $0 != "\"" })
        }
        var lanes: [String: [(Int64, String, Double, Double)]] = [:]
        for svg in html.components(separatedBy: "aria-label=\"timeline of ").dropFirst() {
            let name = String(svg.prefix { $0 != "\"" })
            var found: [(Int64, String, Double, Double)] = []
            for piece in svg.components(separatedBy: "<").dropFirst() where piece.contains("data-seq=") {
                let element = piece.prefix { $0 != ">" }
                guard let seq = attribute("data-seq", in: element).flatMap({ Int64($0) }), let rule = attribute("data-rule", in: element) else {
                    continue
                }
                if let cx = attribute("cx", in: element), let cy = attribute("cy", in: element) {
                    found.append((seq, rule, Double(cx)!, Double(cy)!))
                } else if let d = attribute("d", in: element) {
                    let numbers = d.split(whereSeparator: { !$0.isNumber && $0 != "." && $0 != "-" }).compactMap { Double($0) }
                    found.append((seq, rule, numbers[0], numbers[1] + 4))
                }
            }
            lanes[name] = found
        }
        return lanes
    }

    /// Two markers on one lane closer than a marker's width (9 px) in both directions.
    func overlapping(_ lanes: [String: [(seq: Int64, rule: String, x: Double, y: Double)]]) -> [String] {
        var found: [String] = []
        for (name, drawn) in lanes {
            for (index, a) in drawn.enumerated() {
                for b in drawn[(index + 1)...] where abs(a.x - b.x) < 9 && abs(a.y - b.y) < 9 {
                    found.append("\(name): \(a.rule)@\(a.seq) and \(b.rule)@\(b.seq)")
                }
            }
        }
        return found
    }

    @Test func everyFindingIsMarkedEvenAfterItsFileClosedAndMarkersAtOnePlaceStack() throws {
        let temporary = try TemporaryStore()
        let store = try scenarioStore(temporary, "03")
        _ = try store.audit()
        let findings = try ReportFinding.stored(in: store)
        let divergences = try ReportHTML.divergences(in: store)
        let timeline = try ReportTimeline.build(store: store, columns: 600, rows: 64)
        let html = ReportHTML.render(timeline, header: .init(title: "t", head: "17:00"), findings: findings, divergences: divergences)
        let lanes = markers(html)
        let drawn = lanes.values.flatMap { $0 }
        // GM-R08 at gmem_close (seq 10), GM-R05 and GM-R14 at the reuse (seq 14): g03 is closed by then.
        for (seq, rule) in [(10, "GM-R08"), (14, "GM-R05"), (14, "GM-R14")] as [(Int64, String)] {
            #expect(lanes["gmem g03"]?.contains { $0.seq == seq && $0.rule == rule } == true, "\(rule) at seq \(seq) is not marked on g03")
        }
        #expect(drawn.count == findings.count + divergences.count)
        // Two findings at seq 8 and two at seq 14 on one page, a finding and a divergence at seq 16.
        #expect(overlapping(lanes).isEmpty, "\(overlapping(lanes))")
        // Every file lane says where its offsets are.
        for lane in timeline.lanes {
            let svg = try #require(html.components(separatedBy: "aria-label=\"timeline of gmem \(lane.gmem)\"").dropFirst().first)
            let lane0 = svg.components(separatedBy: "</svg>")[0]
            #expect(lane0.contains(">0x0</text>") && lane0.contains(">\(hex(lane.size))</text>"), "gmem \(lane.gmem) has no offset labels")
        }
    }

    @Test func findingsOnNoGmemPageAreMarkedOnTheirVMsLane() throws {
        let temporary = try TemporaryStore()
        let store = try scenarioStore(temporary, "03")
        let timeline = try ReportTimeline.build(store: store, columns: 600, rows: 64)
        // Three findings at one seq on guest physical addresses no memslot binds, one with no VM.
        let findings = [
            ReportFinding(seq: 5, rule: "GM-R13", severity: "warning", vm: "td03", gpa: 0x1000_0000, gpaSize: 0x1000, message: "a"),
            ReportFinding(seq: 5, rule: "GM-R13", severity: "warning", vm: "td03", gpa: 0x2000_0000, gpaSize: 0x1000, message: "b"),
            ReportFinding(seq: 5, rule: "GM-R13", severity: "warning", vm: "td03", gpa: 0x3000_0000, gpaSize: 0x1000, message: "c"),
            ReportFinding(seq: 7, rule: "GM-R05", severity: "critical", message: "frames only"),
            ReportFinding(seq: 9, rule: "GM-R01", severity: "critical", gmem: "never-seen", offset: 0, size: 0x1000, message: "no lane"),
        ]
        let html = ReportHTML.render(timeline, header: .init(title: "t", head: "17:00"), findings: findings, divergences: [])
        let lanes = markers(html)
        #expect(lanes["vm td03"]?.count == 3)
        #expect(lanes["the log"]?.map(\.rule).sorted() == ["GM-R01", "GM-R05"])
        #expect(html.contains("td03 gpa 0x20000000+0x1000"))
        #expect(overlapping(lanes).isEmpty, "\(overlapping(lanes))")
    }

    @Test func aSingleQuarantinedPageIsDrawnLargeEnoughToSee() throws {
        let temporary = try TemporaryStore()
        let store = try scenarioStore(temporary, "03")
        let timeline = try ReportTimeline.build(store: store, columns: 600, rows: 64)
        let html = ReportHTML.render(timeline, header: .init(title: "t", head: "17:00"), findings: [], divergences: [])
        let quarantined = html.components(separatedBy: "<rect ").dropFirst().filter { $0.contains("class=\"q\"") }
        #expect(!quarantined.isEmpty, "g03's quarantined page is not drawn")
        for rect in quarantined {
            func number(_ name: String) -> Int? {
                guard let start = rect.range(of: "\(name)=\"") else { return nil }
                return Int(rect[start.upperBound...].prefix { $0 != "\"" })
            }
            #expect((number("width") ?? 0) >= ReportHTML.minimumWidth && (number("height") ?? 0) >= ReportHTML.minimumHeight, "\(rect)")
        }
    }
}
