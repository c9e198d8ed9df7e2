/// Renders page histories.
public enum HistoryFormat {
    /// A JSON array: each event with its seq, time, canonical body (the stored one when the
    /// entries carry bodies), verdict and the pages' runs before and after.
    public static func json(_ entries: [HistoryEntry]) -> String {
        guard !entries.isEmpty else { return "[]" }
        let lines = entries.map { entry -> String in
            var members: [JSONMember] = [JSONMember("seq", .number(String(entry.seq)))]
            if let ts = entry.event.ts { members.append(JSONMember("ts", .string(Timestamp.format(ts)))) }
            members.append(JSONMember("op", .string(entry.event.op.name)))
            members.append(JSONMember("event", (try? JSONParser.parse(entry.body ?? entry.event.canonicalJSON)) ?? .null))
            members.append(JSONMember("expected", entry.verdict.expected.map { .string($0) } ?? .null))
            members.append(JSONMember("result", entry.event.result.map { .string($0) } ?? .null))
            members.append(JSONMember("diverged", .bool(entry.verdict.diverged)))
            members.append(JSONMember("before", .array(entry.before.map(\.json))))
            members.append(JSONMember("after", .array(entry.after.map(\.json))))
            return "  " + JSONWriter.string(.object(members), sortsKeys: false)
        }
        return "[\n" + lines.joined(separator: ",\n") + "\n]"
    }

    /// For each event: a header line, then the runs that changed as `before → after`.
    public static func text(_ entries: [HistoryEntry]) -> String {
        guard !entries.isEmpty else { return "(no event touched these pages)" }
        var out: [String] = []
        for entry in entries {
            out.append(headline(seq: entry.seq, event: entry.event, verdict: entry.verdict))
            if entry.before != entry.after {
                for run in entry.before { out.append("    before  " + summary(run)) }
                for run in entry.after { out.append("    after   " + summary(run)) }
            }
        }
        return out.joined(separator: "\n")
    }

    /// The line that introduces an event: seq (and a role such as `trigger`), time, actor,
    /// what it did, and its result against the model's expectation.
    public static func headline(seq: Int64, role: String? = nil, event: Event, verdict: Verdict) -> String {
        var line = "seq \(seq)" + (role.map { " [\($0)]" } ?? "")
        if let ts = event.ts { line += "  \(Timestamp.format(ts))" }
        line += "  \(event.actor) \(describe(event))"
        let expected = verdict.expected ?? "unresolved"
        if let result = event.result {
            line += "  result \(result)" + (verdict.diverged ? " (model expected \(expected))" : "")
        } else {
            line += "  expected \(expected)"
        }
        return line
    }

    /// One line for an event: the op and its range.
    public static func describe(_ event: Event) -> String {
        var text = event.op.name
        switch event.op.range {
        case .file(let gmem, let offset, let size)?: text += " \(gmem) \(hex(offset))+\(hex(size))"
        case .guest(let vm, let gpa, let size)?: text += " \(vm) gpa \(hex(gpa))+\(hex(size))"
        case nil: break
        }
        switch event.op {
        case .convert(_, let to), .convertRequest(_, _, _, let to, _): text += " to=\(to.rawValue)"
        case .pin(_, let holder), .release(_, let holder): text += " holder=\(holder.rawValue)"
        case .vmCreate(let vm, _, _), .vmDestroy(let vm), .vmBugged(let vm, _): text += " \(vm)"
        case .gmemCreate(_, let gmem, let size, _, _): text += " \(gmem) size \(hex(size))"
        case .gmemClose(let gmem): text += " \(gmem)"
        case .bind(let vm, let gmem, let slot, let gpa, let size, let offset, _):
            text += " \(vm) slot \(slot) gpa \(hex(gpa))+\(hex(size)) → \(gmem) \(hex(offset))"
        case .unbind(let vm, let slot): text += " \(vm) slot \(slot)"
        case .reuse(let pfn, let npages, let owner): text += " pfn \(hex(pfn))+\(npages)" + (owner.map { " to \($0)" } ?? "")
        case .mce(let pfn): text += " pfn \(hex(pfn))"
        default: break
        }
        return text
    }

    static func summary(_ run: StateRun) -> String {
        var parts = ["\(run.gmem) \(hex(run.offset))+\(hex(run.size))", run.page.shareability.rawValue]
        if run.page.populated { parts.append("populated" + (run.pfn.map { " pfn \(hex($0))" } ?? "")) }
        if run.page.mapped { parts.append("mapped") }
        if run.page.accepted { parts.append("accepted") }
        if !run.pinsText.isEmpty { parts.append("pins " + run.pinsText) }
        if run.page.requested != .none { parts.append("requested \(run.page.requested.rawValue)") }
        if run.page.quarantined { parts.append("QUARANTINED") }
        return parts.joined(separator: ", ")
    }
}
