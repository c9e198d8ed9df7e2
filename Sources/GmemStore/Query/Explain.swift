/// One event of a finding's causal chain, with the concerned pages before and after it.
public struct ExplainStep: Equatable {
    /// Why the event is in the chain.
    public enum Role: String, Sendable {
        /// An earlier event named in the finding's `related`.
        case related
        /// The event that raised the finding.
        case trigger
    }

    public var seq: Int64
    public var role: Role
    public var event: Event
    public var verdict: Verdict
    /// The finding's file ranges before and after the event, as merged runs.
    public var before: [StateRun]
    public var after: [StateRun]
    /// The line of the input the event was read from, as given (`explain --original`).
    public var original: OriginalLine? = nil
}

/// A finding with its causal chain, oldest first: what an analyst needs for the incident report.
public struct Explanation: Equatable {
    public var finding: Finding
    public var steps: [ExplainStep]
}

/// Answers `explain FINDING` from the stored finding, without running the rules again: the
/// state at each event of the chain comes from the store's snapshots and the events after them.
public struct Explainer {
    public let store: Store

    public init(store: Store) {
        self.store = store
    }

    /// The stored finding `id` with its chain, or nil when the store has no such finding.
    public func explain(id: Int64) throws -> Explanation? {
        guard let finding = try store.finding(id: id) else { return nil }
        let chain = (finding.related.filter { $0 < finding.seq } + [finding.seq]).sorted()
        var engine = try store.engine(at: chain[0] - 1)
        var position = chain[0] - 1
        var steps: [ExplainStep] = []
        for seq in chain {
            if seq - 1 - position > store.snapshotInterval {
                engine = try store.engine(at: seq - 1)
                position = seq - 1
            }
            var target: (Event, Int64)?
            try store.forEachEvent(in: (position + 1)...seq) { stored in
                let event = try stored.decoded()
                if stored.seq == seq {
                    target = (event, stored.seq)
                } else {
                    engine.apply(event, seq: stored.seq)
                }
                return true
            }
            position = seq - 1
            guard let (event, _) = target else { continue }
            let before = Self.runs(of: finding, in: engine.state)
            let verdict = engine.apply(event, seq: seq)
            position = seq
            steps.append(ExplainStep(
                seq: seq, role: seq == finding.seq ? .trigger : .related, event: event, verdict: verdict, before: before,
                after: Self.runs(of: finding, in: engine.state)))
        }
        return Explanation(finding: finding, steps: steps)
    }

    /// The runs of the finding's file ranges in `state` (ranges of files that do not exist yet
    /// give nothing).
    static func runs(of finding: Finding, in state: GmemState) -> [StateRun] {
        var result: [StateRun] = []
        for range in finding.ranges {
            guard let gmem = range.gmem, let file = state.file(gmem) else { continue }
            let pages = (range.offset / pageSize)..<((range.offset + range.size) / pageSize)
            result += StateReport.runs(of: file, pages: pages.clamped(to: 0..<file.pageCount))
        }
        return result
    }
}

/// Renders explanations.
public enum ExplainFormat {
    /// The finding, then each event of the chain with the pages before and after it.
    public static func text(_ explanation: Explanation, severity: Severity? = nil) -> String {
        let finding = explanation.finding
        var out: [String] = []
        var head = "finding \(finding.id.map(String.init) ?? "-"): \(finding.rule) \(finding.name) (\((severity ?? finding.severity).rawValue))"
        head += " at seq \(finding.seq)"
        if let ts = finding.ts { head += ", \(Timestamp.format(ts))" }
        out.append(head)
        var subject = ["host \(finding.host)"]
        if let vm = finding.vm { subject.append("vm \(vm)") }
        if !finding.ranges.isEmpty { subject.append(finding.ranges.map(\.text).joined(separator: ", ")) }
        out.append("  " + subject.joined(separator: ", "))
        out.append("  " + finding.message)
        if !finding.related.isEmpty { out.append("  related: " + finding.related.map { "seq \($0)" }.joined(separator: ", ")) }
        for step in explanation.steps {
            out.append("")
            out.append(HistoryFormat.headline(seq: step.seq, role: step.role.rawValue, event: step.event, verdict: step.verdict))
            if let original = step.original { out.append("    input   \(original.name):\(original.line)  \(original.text)") }
            if let note = step.event.note { out.append("    note    \(note)") }
            if step.before.isEmpty && step.after.isEmpty {
                out.append("    (the finding's pages are not in a gmem file at this point)")
            } else if step.before == step.after {
                for run in step.after { out.append("    state   " + HistoryFormat.summary(run)) }
            } else {
                for run in step.before { out.append("    before  " + HistoryFormat.summary(run)) }
                for run in step.after { out.append("    after   " + HistoryFormat.summary(run)) }
            }
        }
        // Each line is one line: a newline or escape sequence in a note or a message is shown.
        return out.map(terminalSafe).joined(separator: "\n")
    }

    /// `{"finding": …, "events": [{seq, role, ts, op, event, expected, result, diverged, before, after}]}`.
    public static func json(_ explanation: Explanation, severity: Severity? = nil) -> String {
        let finding = JudgedFinding(finding: explanation.finding, severity: severity ?? explanation.finding.severity)
        let events: [JSONValue] = explanation.steps.map { step in
            var members: [JSONMember] = [
                JSONMember("seq", .number(String(step.seq))),
                JSONMember("role", .string(step.role.rawValue)),
            ]
            if let ts = step.event.ts { members.append(JSONMember("ts", .string(Timestamp.format(ts)))) }
            members.append(JSONMember("op", .string(step.event.op.name)))
            members.append(JSONMember("event", (try? JSONParser.parse(step.event.canonicalJSON)) ?? .null))
            members.append(JSONMember("expected", step.verdict.expected.map { .string($0) } ?? .null))
            members.append(JSONMember("result", step.event.result.map { .string($0) } ?? .null))
            members.append(JSONMember("diverged", .bool(step.verdict.diverged)))
            members.append(JSONMember("before", .array(step.before.map(\.json))))
            members.append(JSONMember("after", .array(step.after.map(\.json))))
            if let original = step.original {
                members.append(JSONMember("input", .object([
                    JSONMember("name", .string(original.name)), JSONMember("line", .number(String(original.line))),
                    JSONMember("text", .string(original.text)),
                ])))
            }
            return .object(members)
        }
        let lines = events.map { "    " + JSONWriter.string($0, sortsKeys: false) }
        return "{\n  \"finding\": " + JSONWriter.string(FindingReport.json(finding), sortsKeys: false) + ",\n  \"events\": ["
            + (lines.isEmpty ? "]" : "\n" + lines.joined(separator: ",\n") + "\n  ]") + "\n}"
    }
}
