import Foundation
import Testing
@testable import GmemStore

/// The report as a person sees it: scenario 03's page drawn by a real browser (Debian's
/// headless Chromium), its layout read back from the DOM after the browser placed every
/// element. Every finding and divergence has a marker of non-zero size inside its lane's
/// timeline, no two markers overlap, every file lane has its offsets written at its left, and
/// a quarantined page is drawn large enough to see. Skipped when Chromium is not installed
/// (`apt-get install chromium`; scripts/render-report.sh installs it).
@Suite struct ReportBrowserTests {
    static let browser: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Reads every timeline's geometry as the browser laid it out into `<pre id="layout">`.
    static let layoutScript = """
        <script>
        function box(e){const b=e.getBoundingClientRect();return [b.left,b.top,b.width,b.height];}
        const layout={viewport:[innerWidth,innerHeight],lanes:[]};
        for(const svg of document.querySelectorAll('svg[aria-label^="timeline of "]')){
          layout.lanes.push({name:svg.getAttribute('aria-label').slice(12),svg:box(svg),area:box(svg.querySelector('rect.lane')),
            markers:[...svg.querySelectorAll('[data-seq]')].map(m=>({seq:+m.dataset.seq,rule:m.dataset.rule,box:box(m)})),
            offsets:[...svg.querySelectorAll('text.off')].map(t=>({text:t.textContent,box:box(t)})),
            quarantined:[...svg.querySelectorAll('rect.q')].map(box)});
        }
        const pre=document.createElement('pre');pre.id='layout';pre.textContent=JSON.stringify(layout);document.body.appendChild(pre);
        </script>
        """

    struct Layout: Decodable {
        struct Marker: Decodable {
            var seq: Int64
            var rule: String
            var box: [Double]
        }
        struct Label: Decodable {
            var text: String
            var box: [Double]
        }
        struct Lane: Decodable {
            var name: String
            var svg: [Double]
            var area: [Double]
            var markers: [Marker]
            var offsets: [Label]
            var quarantined: [[Double]]
        }
        var viewport: [Double]
        var lanes: [Lane]
    }

    /// Runs Chromium headless on `page` with `arguments`; its standard output.
    func chromium(_ arguments: [String], page: String, profile: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.browser))
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(profile)",
            "--window-size=1000,1400",
        ] + arguments + ["file://" + page]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "chromium \(arguments) exited \(process.terminationStatus)")
        return String(decoding: data, as: UTF8.self)
    }

    /// (x, y, width, height) boxes that share more than a hair of area.
    func overlap(_ a: [Double], _ b: [Double]) -> Bool {
        let width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
        let height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
        return width > 0.5 && height > 0.5
    }

    func inside(_ inner: [Double], _ outer: [Double]) -> Bool {
        inner[0] >= outer[0] - 0.5 && inner[1] >= outer[1] - 0.5 && inner[0] + inner[2] <= outer[0] + outer[2] + 0.5
            && inner[1] + inner[3] <= outer[1] + outer[3] + 0.5
    }

    @Test(
        "scenario 03's report in Chromium: every finding marked inside its timeline, markers apart, offsets labelled, the quarantined page visible",
        .enabled(if: browser != nil, "Debian's chromium is not installed"))
    func scenario03InABrowser() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        let scenario = try #require(SeedScenarios.all.first { $0.name.hasPrefix("03") })
        _ = try SeedScenarios.ingest(scenario, into: store)
        _ = try store.audit()
        let findings = try ReportFinding.stored(in: store)
        let divergences = try ReportHTML.divergences(in: store)
        // The ones the scenario is about, which the report once left off.
        for (seq, rule) in [(10, "GM-R08"), (14, "GM-R05"), (14, "GM-R14")] {
            #expect(findings.contains { $0.seq == seq && $0.rule == rule }, "the audit no longer finds \(rule) at seq \(seq)")
        }
        // As scripts/render-report.sh draws it for docs/.
        let timeline = try ReportTimeline.build(store: store, columns: 600, rows: 64)
        let html = ReportHTML.render(timeline, header: .init(title: "scenario 03", head: "17:00"), findings: findings, divergences: divergences)
        let page = temporary.sibling("report.html")
        try html.write(toFile: page, atomically: true, encoding: .utf8)
        let probed = temporary.sibling("probed.html")
        try html.replacingOccurrences(of: "</body>", with: Self.layoutScript + "</body>").write(toFile: probed, atomically: true, encoding: .utf8)

        // The picture, as a person would look at it.
        let screenshot = temporary.sibling("report.png")
        _ = try chromium(["--screenshot=\(screenshot)"], page: page, profile: temporary.sibling("profile-1"))
        let png = try #require(FileManager.default.contents(atPath: screenshot), "chromium wrote no screenshot")
        #expect(png.count > 10_000 && Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let bytes = Array(png)
        func bigEndian(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        #expect(bigEndian(16) == 1000 && bigEndian(20) == 1400, "screenshot is \(bigEndian(16))×\(bigEndian(20))")

        // The layout, as the browser placed it.
        let dom = try chromium(["--virtual-time-budget=5000", "--dump-dom"], page: probed, profile: temporary.sibling("profile-2"))
        let start = try #require(dom.range(of: "<pre id=\"layout\">"), "the layout script did not run")
        let end = try #require(dom.range(of: "</pre>", range: start.upperBound..<dom.endIndex))
        let json = dom[start.upperBound..<end.lowerBound]
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        let layout = try JSONDecoder().decode(Layout.self, from: Data(json.utf8))
        let viewport = [0, 0, layout.viewport[0], 1e9]

        var marked: [String] = []
        for lane in layout.lanes {
            #expect(inside(lane.area, viewport), "lane \(lane.name) runs past the window: \(lane.area)")
            for marker in lane.markers {
                marked.append("\(marker.seq) \(marker.rule)")
                #expect(marker.box[2] >= 8 && marker.box[3] >= 8, "\(marker.rule) at seq \(marker.seq) is \(marker.box[2])×\(marker.box[3])")
                #expect(inside(marker.box, lane.area), "\(marker.rule) at seq \(marker.seq) lies outside lane \(lane.name)'s timeline")
            }
            for (index, a) in lane.markers.enumerated() {
                for b in lane.markers[(index + 1)...] where overlap(a.box, b.box) {
                    Issue.record("on lane \(lane.name), \(a.rule) at seq \(a.seq) and \(b.rule) at seq \(b.seq) overlap")
                }
            }
            if lane.name.hasPrefix("gmem ") {
                let size = try #require(timeline.lanes.first { "gmem " + $0.gmem == lane.name }).size
                #expect(lane.offsets.map(\.text).first == "0x0" && lane.offsets.map(\.text).last == hex(size), "\(lane.offsets.map(\.text))")
                for label in lane.offsets {
                    #expect(label.box[2] > 0 && label.box[3] > 0 && inside(label.box, lane.svg), "offset label \(label.text) of \(lane.name)")
                    #expect(label.box[0] + label.box[2] <= lane.area[0] + 0.5, "offset label \(label.text) lies over the timeline")
                }
            }
            for box in lane.quarantined {
                #expect(box[2] >= Double(ReportHTML.minimumWidth) && box[3] >= Double(ReportHTML.minimumHeight), "a quarantined range is \(box[2])×\(box[3])")
            }
        }
        let expected = findings.map { "\($0.seq) \($0.rule)" } + divergences.map { "\($0.seq) divergence" }
        #expect(marked.sorted() == expected.sorted(), "markers drawn differ from the findings and divergences stored")
        #expect(layout.lanes.contains { !$0.quarantined.isEmpty }, "the quarantined page of g03 is not drawn")
    }
}
