/// One merged run of equal pages as `state` prints it (CLI.md "A state run").
public struct StateRun: Equatable, Sendable {
    public var gmem: String
    public var vm: String
    public var offset: UInt64
    public var size: UInt64
    public var page: PageState
    /// The frame of the run's first page, when known.
    public var pfn: UInt64?
    /// The kernel profile that judges the run's VM (EVENTS.md §4a).
    public var kernel = KernelProfile.standard
    /// The seq of the first `gap` its file lived through: from there on its state is a
    /// reconstruction across a hole in the evidence (docs/MODEL.md "Gaps"). Nil when trusted.
    public var untrustedSince: Int64? = nil

    /// The run in the JSON shape of CLI.md, keys in the documented order.
    public var json: JSONValue {
        var members: [JSONMember] = [
            JSONMember("gmem", .string(gmem)),
            JSONMember("vm", .string(vm)),
            JSONMember("offset", .number(String(offset))),
            JSONMember("size", .number(String(size))),
            JSONMember("shareability", .string(page.shareability.rawValue)),
            JSONMember("populated", .bool(page.populated)),
            JSONMember("mapped", .bool(page.mapped)),
            JSONMember("accepted", .bool(page.accepted)),
            JSONMember("pins", .object(page.pins.held.map { JSONMember($0.0.rawValue, .number(String($0.1))) })),
            JSONMember("requested", .string(page.requested.rawValue)),
            JSONMember("quarantined", .bool(page.quarantined)),
            JSONMember("kernel", .string(kernel.rawValue)),
        ]
        if let pfn { members.append(JSONMember("pfn", .number(String(pfn)))) }
        if let untrustedSince { members.append(JSONMember("untrusted_since", .number(String(untrustedSince)))) }
        return .object(members)
    }

    /// Pins as `td=1;iommu=2`, for text and CSV.
    public var pinsText: String {
        var sink = TextSink(capacity: 16)
        sink.pins(page.pins)
        return sink.text
    }
}

extension TextSink {
    /// Pins as `td=1;iommu=2`: the holders with a count above zero.
    mutating func pins(_ pins: Pins) {
        var first = true
        for holder in Holder.allCases where pins[holder] > 0 {
            if !first { write(";") }
            first = false
            write(escaping: holder.rawValue)
            write("=")
            decimal(UInt64(pins[holder]))
        }
    }
}

/// Renders engine state for people and programs.
public enum StateReport {
    /// The runs of every open gmem file (optionally of one VM or one gmem), ordered by gmem id,
    /// then offset.
    public static func runs(of state: GmemState, vm: String? = nil, gmem: String? = nil) -> [StateRun] {
        let files = state.fileIndex
            .filter { state.files[$0.value].isOpen }
            .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        var result: [StateRun] = []
        for (name, index) in files {
            let file = state.files[index]
            if let vm, file.vm != vm { continue }
            if let gmem, name != gmem { continue }
            result += runs(of: file, pages: 0..<file.pageCount, kernel: state.vms[file.vm]?.kernel ?? .standard)
        }
        return result
    }

    /// The runs of `file` within `pages`, its VM judged by `kernel`.
    public static func runs(of file: GmemFile, pages: Range<UInt64>, kernel: KernelProfile = .standard) -> [StateRun] {
        file.pages.runs(in: pages).map { run in
            StateRun(
                gmem: file.name, vm: file.vm, offset: run.lower * pageSize, size: UInt64(run.range.count) * pageSize,
                page: run.value, pfn: run.value.pfn(ofPage: run.lower), kernel: kernel, untrustedSince: file.untrustedSince)
        }
    }

    /// A JSON array, one run per line.
    public static func json(_ runs: [StateRun]) -> String {
        guard !runs.isEmpty else { return "[]" }
        return "[\n" + runs.map { "  " + JSONWriter.string($0.json, sortsKeys: false) }.joined(separator: ",\n") + "\n]"
    }

    public static let csvHeader = "gmem,vm,offset,size,shareability,populated,mapped,accepted,pins,requested,quarantined,pfn,kernel,untrusted_since"

    public static func csv(_ runs: [StateRun]) -> String {
        var lines = [csvHeader]
        for run in runs {
            let fields = [
                csvField(run.gmem), csvField(run.vm), String(run.offset), String(run.size), run.page.shareability.rawValue,
                String(run.page.populated), String(run.page.mapped), String(run.page.accepted), run.pinsText,
                run.page.requested.rawValue, String(run.page.quarantined), run.pfn.map { String($0) } ?? "", run.kernel.rawValue,
                run.untrustedSince.map { String($0) } ?? "",
            ]
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    /// An aligned table with a header, offsets and sizes in hex as the kernel prints them.
    public static func text(_ runs: [StateRun]) -> String {
        guard !runs.isEmpty else { return "(no open gmem files)" }
        // The column of evidence gaps only when a run has one: a log without gaps prints as before.
        let gaps = runs.contains { $0.untrustedSince != nil }
        let header = ["GMEM", "VM", "OFFSET", "SIZE", "SHARE", "POP", "MAP", "ACC", "PINS", "REQ", "QUAR", "PFN", "KERNEL"]
            + (gaps ? ["UNTRUSTED"] : [])
        let rows = runs.map { run in
            [
                run.gmem, run.vm, hex(run.offset), hex(run.size), run.page.shareability.rawValue,
                flag(run.page.populated), flag(run.page.mapped), flag(run.page.accepted),
                run.pinsText.isEmpty ? "-" : run.pinsText, run.page.requested.rawValue,
                flag(run.page.quarantined), run.pfn.map(hex) ?? "-", run.kernel.rawValue,
            ] + (gaps ? [run.untrustedSince.map { "since seq \($0)" } ?? "-"] : [])
        }
        return table(header: header, rows: rows)
    }

    static func flag(_ value: Bool) -> String { value ? "yes" : "no" }
}

/// An aligned plain-text table. Every cell is written with its control characters escaped
/// (`terminalSafe`), so that no value can end a row or start another.
public func table(header: [String], rows: [[String]]) -> String {
    let header = header.map(terminalSafe)
    let rows = rows.map { $0.map(terminalSafe) }
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        var out = ""
        for (index, cell) in cells.enumerated() {
            if index > 0 { out += "  " }
            out += index == cells.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[index] - cell.count))
        }
        return out
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}
