/// Renders page histories.
public enum HistoryFormat {
    /// A JSON array: each event with its seq, time, canonical body (the stored one when the
    /// entries carry bodies), verdict and the pages' runs before and after.
    public static func json(_ entries: [HistoryEntry]) -> String {
        guard !entries.isEmpty else { return "[]" }
        return "[\n" + entries.map { jsonElement($0) }.joined(separator: ",\n") + "\n]"
    }

    /// One entry as an element of `json`'s array (indented, without the comma): a history is
    /// written element by element as the replay reaches each, never held whole.
    public static func jsonElement(_ entry: HistoryEntry, original: OriginalLine? = nil) -> String {
        var members: [JSONMember] = [JSONMember("seq", .number(String(entry.seq)))]
        if let ts = entry.event.ts { members.append(JSONMember("ts", .string(Timestamp.format(ts)))) }
        members.append(JSONMember("op", .string(entry.event.op.name)))
        members.append(JSONMember("event", (try? JSONParser.parse(entry.body ?? entry.event.canonicalJSON)) ?? .null))
        members.append(JSONMember("expected", entry.verdict.expected.map { .string($0) } ?? .null))
        members.append(JSONMember("result", entry.event.result.map { .string($0) } ?? .null))
        members.append(JSONMember("diverged", .bool(entry.verdict.diverged)))
        members.append(JSONMember("before", .array(entry.before.map(\.json))))
        members.append(JSONMember("after", .array(entry.after.map(\.json))))
        if let original {
            members.append(JSONMember("input", .object([
                JSONMember("name", .string(original.name)), JSONMember("line", .number(String(original.line))),
                JSONMember("text", .string(original.text)),
            ])))
        }
        return "  " + JSONWriter.string(.object(members), sortsKeys: false)
    }

    /// For each event: a header line, then the runs that changed as `before → after`.
    public static func text(_ entries: [HistoryEntry]) -> String {
        String(decoding: textUTF8(entries), as: UTF8.self)
    }

    /// `text(_:)` as UTF-8 bytes, for writing without building a `String` of the whole history.
    public static func textUTF8(_ entries: [HistoryEntry]) -> [UInt8] {
        var writer = TextWriter()
        for entry in entries { writer.append(entry) }
        return writer.utf8
    }

    /// A history's text built entry by entry, as `History.forEachEntry` replays them.
    public struct TextWriter {
        private var sink = TextSink(capacity: 64 << 10)
        private var count = 0

        public init() {}

        public mutating func append(_ entry: HistoryEntry) {
            if count > 0 { sink.write("\n") }
            count += 1
            headline(seq: entry.seq, event: entry.event, verdict: entry.verdict, into: &sink)
            if entry.before != entry.after {
                for run in entry.before {
                    sink.write("\n    before  ")
                    summary(run, into: &sink)
                }
                for run in entry.after {
                    sink.write("\n    after   ")
                    summary(run, into: &sink)
                }
            }
        }

        /// With an entry: the line of the input it was read from, as given.
        public mutating func append(original: OriginalLine) {
            sink.write("\n    input   ")
            sink.write(escaping: "\(original.name):\(original.line)  \(original.text)")
        }

        /// The text so far, or a line saying no event touched the pages.
        public var utf8: [UInt8] {
            count == 0 ? Array("(no event touched these pages)".utf8) : sink.bytes
        }

        /// The text written since the last drain (none when no entry was appended yet): a long
        /// history is written out as it grows instead of held.
        public mutating func drain() -> [UInt8] {
            let bytes = sink.bytes
            sink = TextSink(capacity: 64 << 10)
            return bytes
        }

        /// The bytes held now.
        public var pendingCount: Int { sink.bytes.count }

        /// Entries appended so far.
        public var entries: Int { count }
    }

    /// The line that introduces an event: seq (and a role such as `trigger`), time, actor,
    /// what it did, and its result against the model's expectation.
    public static func headline(seq: Int64, role: String? = nil, event: Event, verdict: Verdict) -> String {
        var sink = TextSink(capacity: 160)
        headline(seq: seq, role: role, event: event, verdict: verdict, into: &sink)
        return sink.text
    }

    static func headline(seq: Int64, role: String? = nil, event: Event, verdict: Verdict, into sink: inout TextSink) {
        sink.write("seq ")
        sink.decimal(seq)
        if let role {
            sink.write(" [")
            sink.write(escaping: role)
            sink.write("]")
        }
        if let ts = event.ts {
            sink.write("  ")
            sink.timestamp(ts)
        }
        sink.write("  ")
        sink.write(escaping: event.actor)
        sink.write(" ")
        describe(event, into: &sink)
        if let result = event.result {
            sink.write("  result ")
            sink.write(escaping: result)
            if verdict.diverged {
                sink.write(" (model expected ")
                sink.write(escaping: verdict.expected ?? "unresolved")
                sink.write(")")
            }
        } else {
            sink.write("  expected ")
            sink.write(escaping: verdict.expected ?? "unresolved")
        }
    }

    /// One line for an event: the op and its range.
    public static func describe(_ event: Event) -> String {
        var sink = TextSink(capacity: 80)
        describe(event, into: &sink)
        return sink.text
    }

    static func describe(_ event: Event, into sink: inout TextSink) {
        sink.write(escaping: event.op.name)
        switch event.op.range {
        case .file(let gmem, let offset, let size)?:
            sink.write(" ")
            sink.write(escaping: gmem)
            sink.write(" ")
            sink.hex(offset)
            sink.write("+")
            sink.hex(size)
        case .guest(let vm, let gpa, let size)?:
            sink.write(" ")
            sink.write(escaping: vm)
            sink.write(" gpa ")
            sink.hex(gpa)
            sink.write("+")
            sink.hex(size)
        case nil: break
        }
        switch event.op {
        case .convert(_, let to), .convertRequest(_, _, _, let to, _):
            sink.write(" to=")
            sink.write(escaping: to.rawValue)
        case .pin(_, let holder), .release(_, let holder):
            sink.write(" holder=")
            sink.write(escaping: holder.rawValue)
        case .vmCreate(let name, _, _), .vmDestroy(let name), .vmBugged(let name, _), .gmemClose(let name):
            sink.write(" ")
            sink.write(escaping: name)
        case .gmemCreate(_, let gmem, let size, _, _):
            sink.write(" ")
            sink.write(escaping: gmem)
            sink.write(" size ")
            sink.hex(size)
        case .bind(let vm, let gmem, let slot, let gpa, let size, let offset, _):
            sink.write(" ")
            sink.write(escaping: vm)
            sink.write(" slot ")
            sink.decimal(slot)
            sink.write(" gpa ")
            sink.hex(gpa)
            sink.write("+")
            sink.hex(size)
            sink.write(" → ")
            sink.write(escaping: gmem)
            sink.write(" ")
            sink.hex(offset)
        case .unbind(let vm, let slot):
            sink.write(" ")
            sink.write(escaping: vm)
            sink.write(" slot ")
            sink.decimal(slot)
        case .reuse(let pfn, let npages, let owner):
            sink.write(" pfn ")
            sink.hex(pfn)
            sink.write("+")
            sink.decimal(npages)
            if let owner {
                sink.write(" to ")
                sink.write(escaping: owner)
            }
        case .mce(let pfn):
            sink.write(" pfn ")
            sink.hex(pfn)
        case .gap(let source, let lost):
            sink.write(" ")
            sink.write(escaping: source)
            sink.write(" lost ")
            if let lost { sink.decimal(lost) } else { sink.write("an unknown number of") }
            sink.write(" events")
        default: break
        }
    }

    static func summary(_ run: StateRun) -> String {
        var sink = TextSink(capacity: 96)
        summary(run, into: &sink)
        return sink.text
    }

    /// A run as `g1 0x0+0x1000, private, populated pfn 0x…, mapped, pins td=1`.
    static func summary(_ run: StateRun, into sink: inout TextSink) {
        sink.write(escaping: run.gmem)
        sink.write(" ")
        sink.hex(run.offset)
        sink.write("+")
        sink.hex(run.size)
        sink.write(", ")
        sink.write(escaping: run.page.shareability.rawValue)
        if run.page.populated {
            sink.write(", populated")
            if let pfn = run.pfn {
                sink.write(" pfn ")
                sink.hex(pfn)
            }
        }
        if run.page.mapped { sink.write(", mapped") }
        if run.page.accepted { sink.write(", accepted") }
        if !run.page.pins.isEmpty {
            sink.write(", pins ")
            sink.pins(run.page.pins)
        }
        if run.page.requested != .none {
            sink.write(", requested ")
            sink.write(escaping: run.page.requested.rawValue)
        }
        if run.page.quarantined { sink.write(", QUARANTINED") }
        if let since = run.untrustedSince {
            sink.write(", UNTRUSTED since seq ")
            sink.decimal(UInt64(bitPattern: since))
        }
    }
}
