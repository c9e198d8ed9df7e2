/// Writes the forensic report: one self-contained HTML page (inline CSS and SVG, no script, no
/// network) with a timeline per gmem file of its pages' shareability, mapping and pins,
/// findings and divergences marked on it and listed below with their explanation.
public struct ReportHTML {
    /// What the page is about: the store and its checkpoints.
    public struct Header: Sendable {
        public var title: String
        public var head: String
        public var merkleRoot: String?

        public init(title: String, head: String, merkleRoot: String? = nil) {
            self.title = title
            self.head = head
            self.merkleRoot = merkleRoot
        }
    }

    /// An event whose observed result differs from the model's (the basis of GM-R11).
    public struct Divergence: Sendable {
        public var seq: Int64
        public var gmem: String?
        public var page: UInt64?
        public var text: String
    }

    /// At most this many rows in each table; the rest are counted.
    public static let listLimit = 500

    /// The divergent events of the store, with the first file page each names.
    public static func divergences(in store: Store) throws -> [Divergence] {
        let rows = try store.database.prepare("SELECT seq FROM event WHERE diverged = 1 ORDER BY seq")
        var found: [Divergence] = []
        while try rows.step() {
            guard let stored = try store.storedEvent(rows.int(0)) else { continue }
            let event = stored.event
            var gmem: String?
            var page: UInt64?
            if case .file(let name, let offset, _)? = event.op.range { (gmem, page) = (name, offset / pageSize) }
            found.append(Divergence(
                seq: stored.seq, gmem: gmem, page: page,
                text: HistoryFormat.describe(event) + " observed \(event.result ?? "nothing"), model expected \(stored.expected ?? "no outcome")"))
        }
        return found
    }

    public static func render(_ timeline: ReportTimeline, header: Header, findings: [ReportFinding], divergences: [Divergence]) -> String {
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>\(escape(header.title))</title>
            <style>
            body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;background:#fff}
            h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
            .meta{color:#555;font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
            .legend span{display:inline-block;margin-right:14px;font-size:12px}
            .legend i{display:inline-block;width:14px;height:14px;vertical-align:-3px;margin-right:4px;border:1px solid #999}
            svg{display:block;margin:4px 0 12px}
            svg text{font:11px ui-monospace,monospace;fill:#444}
            .k1{fill:#a6dcd9}.k5{fill:#0f8b8d}.k2{fill:#c9b8ec}.k6{fill:#4b2991}.k3{fill:#d4d4e6}.k7{fill:#6d6d9e}
            .q{fill:#d62728}.pin{fill:url(#hatch)}.f{fill:#d62728;stroke:#fff;stroke-width:1.5}.d{fill:#ff9f1c;stroke:#333;stroke-width:.8}
            table{border-collapse:collapse;font-size:12px} td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
            th{background:#f3f3f3} td.n{font-family:ui-monospace,monospace;white-space:nowrap}
            .sev-critical,.sev-emergency,.sev-alert{color:#b00;font-weight:600}.sev-error{color:#c40}
            </style></head><body>
            <h1>\(escape(header.title))</h1>
            <div class="meta">\(timeline.events) events · head \(escape(header.head))\(header.merkleRoot.map { " · Merkle root " + escape($0) } ?? "")</div>

            """
        if let first = timeline.columnTime.compactMap({ $0 }).first, let last = timeline.columnTime.compactMap({ $0 }).last {
            out += "<div class=\"meta\">from \(Timestamp.format(first)) to \(Timestamp.format(last))</div>\n"
        }
        out += """
            <p class="legend">
            <span><i style="background:#0f8b8d"></i>shared, mapped</span><span><i style="background:#a6dcd9"></i>shared, unmapped</span>
            <span><i style="background:#4b2991"></i>private, mapped</span><span><i style="background:#c9b8ec"></i>private, unmapped</span>
            <span><i style="background:#6d6d9e"></i>mixed, some mapped</span><span><i style="background:#d4d4e6"></i>mixed, unmapped</span>
            <span><i style="background:repeating-linear-gradient(45deg,#e07b00 0 2px,transparent 2px 5px)"></i>pinned</span>
            <span><i style="background:#d62728"></i>quarantined</span>
            <span><svg width="12" height="12" style="display:inline;margin:0"><circle cx="6" cy="6" r="4.5" class="f"/></svg> finding</span>
            <span><svg width="12" height="12" style="display:inline;margin:0"><path d="M6 1L11 6L6 11L1 6Z" class="d"/></svg> divergence (observed ≠ model)</span>
            </p>
            <p class="meta">Each lane is one gmem file: offset 0 at the top, its end at the bottom; the log runs left to right \
            (\(timeline.columns) columns, \(perColumn(timeline))). A cell shows its pages at the end of its column.</p>

            """
        let findingsByGmem = Dictionary(grouping: findings.filter { $0.gmem != nil }, by: { $0.gmem! })
        let divergencesByGmem = Dictionary(grouping: divergences.filter { $0.gmem != nil }, by: { $0.gmem! })
        let left = 8
        // A short log gets wide columns, so that its few events can still be told apart.
        let scale = max(1, 900 / max(timeline.columns, 1))
        let width = left + timeline.columns * scale + 8
        // Rows at least 2 px high and lanes about 192 px, so that a single pinned page shows.
        let rowScale = max(2, 192 / max(timeline.rows, 1))
        let laneHeight = timeline.rows * rowScale
        let height = laneHeight + 28
        for lane in timeline.lanes {
            out += "<h2>gmem \(escape(lane.gmem)) <span class=\"meta\">vm \(escape(lane.vm)) · size \(hex(lane.size)) · "
            out += "seq \(lane.firstColumn == 0 ? 1 : timeline.columnEnd[lane.firstColumn - 1] + 1)…\(timeline.columnEnd[lane.lastColumn])</span></h2>\n"
            out += "<svg width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"timeline of gmem \(escape(lane.gmem))\">"
            out += "<defs><pattern id=\"hatch\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"2\" height=\"5\" fill=\"#e07b00\"/></pattern></defs><g transform=\"translate(0,6)\">"
            out += "<rect x=\"\(left)\" y=\"0\" width=\"\(timeline.columns * scale)\" height=\"\(laneHeight)\" fill=\"#f7f7f7\"/>"
            for block in lane.blocks {
                let geometry = "x=\"\(left + block.column * scale)\" y=\"\(block.row * rowScale)\" width=\"\(block.width * scale)\" height=\"\(block.height * rowScale)\""
                if block.cell.has(ReportTimeline.Cell.quarantined) {
                    out += "<rect \(geometry) class=\"q\"/>"
                    continue
                }
                let base = Int(block.cell.bits & (ReportTimeline.Cell.shared | ReportTimeline.Cell.private | ReportTimeline.Cell.mapped))
                out += "<rect \(geometry) class=\"k\(base)\"/>"
                if block.cell.has(ReportTimeline.Cell.pinned) { out += "<rect \(geometry) class=\"pin\"/>" }
            }
            let pageCount = lane.size / pageSize
            func inLane(_ seq: Int64) -> Int? {
                let column = timeline.column(of: seq)
                return (lane.firstColumn...lane.lastColumn).contains(column) ? column : nil
            }
            for divergence in divergencesByGmem[lane.gmem] ?? [] {
                guard let column = inLane(divergence.seq) else { continue }
                let x = left + column * scale + scale / 2
                let y = timeline.row(ofPage: divergence.page ?? 0, pageCount: pageCount) * rowScale + rowScale / 2
                out += "<path d=\"M\(x) \(y - 4)L\(x + 4) \(y)L\(x) \(y + 4)L\(x - 4) \(y)Z\" class=\"d\"><title>seq \(divergence.seq): \(escape(divergence.text))</title></path>"
            }
            for finding in findingsByGmem[lane.gmem] ?? [] {
                guard let column = inLane(finding.seq) else { continue }
                let y = timeline.row(ofPage: (finding.offset ?? 0) / pageSize, pageCount: pageCount) * rowScale + rowScale / 2
                out += "<circle cx=\"\(left + column * scale + scale / 2)\" cy=\"\(y)\" r=\"4.5\" class=\"f\"><title>seq \(finding.seq) \(escape(finding.rule)) \(escape(finding.severity)): \(escape(finding.message))</title></circle>"
            }
            out += axis(timeline, left: left, y: laneHeight, scale: scale)
            out += "</g></svg>\n"
        }
        if timeline.lanes.isEmpty { out += "<p>No gmem file was ever created in this log.</p>\n" }

        out += "<h2>Findings (\(findings.count))</h2>\n"
        if findings.isEmpty {
            out += "<p class=\"meta\">No findings are stored in this store (run <code>gmem-audit audit</code> first).</p>\n"
        } else {
            out += "<table><tr><th>seq</th><th>rule</th><th>severity</th><th>pages</th><th>explanation</th></tr>\n"
            for finding in findings.prefix(listLimit) {
                let pages = finding.gmem.map { gmem in "\(gmem) \(finding.offset.map(hex) ?? "")\(finding.size.map { "+" + hex($0) } ?? "")" } ?? ""
                out += "<tr><td class=\"n\">\(finding.seq)</td><td class=\"n\">\(escape(finding.rule)) \(escape(finding.name))</td>"
                out += "<td class=\"sev-\(escape(finding.severity))\">\(escape(finding.severity))</td><td class=\"n\">\(escape(pages))</td><td>\(escape(finding.message))</td></tr>\n"
            }
            out += "</table>\n"
            if findings.count > listLimit { out += "<p class=\"meta\">… and \(findings.count - listLimit) more (gmem-audit audit lists them all).</p>\n" }
        }
        out += "<h2>Divergences (\(divergences.count))</h2>\n"
        if divergences.isEmpty {
            out += "<p class=\"meta\">Every observed result agrees with the model.</p>\n"
        } else {
            out += "<table><tr><th>seq</th><th>pages</th><th>what happened</th></tr>\n"
            for divergence in divergences.prefix(listLimit) {
                let pages = divergence.gmem.map { "\($0) \(hex((divergence.page ?? 0) * pageSize))" } ?? ""
                out += "<tr><td class=\"n\">\(divergence.seq)</td><td class=\"n\">\(escape(pages))</td><td>\(escape(divergence.text))</td></tr>\n"
            }
            out += "</table>\n"
            if divergences.count > listLimit { out += "<p class=\"meta\">… and \(divergences.count - listLimit) more.</p>\n" }
        }
        out += "</body></html>\n"
        return out
    }

    static func perColumn(_ timeline: ReportTimeline) -> String {
        let events = max(1, timeline.events / Int64(max(timeline.columns, 1)))
        return events == 1 ? "one event each" : "about \(events) events each"
    }

    /// Tick marks under a lane: seq, and the time when the events carry one.
    static func axis(_ timeline: ReportTimeline, left: Int, y: Int, scale: Int) -> String {
        var out = "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + timeline.columns * scale)\" y2=\"\(y)\" stroke=\"#888\"/>"
        // Labels are about 150 px wide: no more ticks than fit.
        let ticks = min(5, timeline.columns - 1, timeline.columns * scale / 220)
        guard ticks > 0 else { return out }
        var labelled: Set<Int> = []
        for tick in 0...ticks {
            let column = min(timeline.columns - 1, tick * (timeline.columns - 1) / max(ticks, 1))
            guard labelled.insert(column).inserted else { continue }
            let x = left + column * scale + scale / 2
            var label = "seq \(timeline.columnEnd[column])"
            if let time = timeline.columnTime[column] {
                let text = Timestamp.format(time)
                label += " " + String(text.dropFirst(11).prefix(8))
            }
            let anchor = tick == 0 ? "start" : (tick == ticks ? "end" : "middle")
            out += "<line x1=\"\(x)\" y1=\"\(y)\" x2=\"\(x)\" y2=\"\(y + 4)\" stroke=\"#888\"/><text x=\"\(x)\" y=\"\(y + 16)\" text-anchor=\"\(anchor)\">\(escape(label))</text>"
        }
        return out
    }

    /// Escapes text for HTML.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
