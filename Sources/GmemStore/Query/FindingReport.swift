/// Renders findings for people (`text`) and programs (`json`, `jsonl`, `csv`, `sarif`).
public enum FindingReport {
    /// A finding in the JSON shape of CLI.md, keys in its order; `ranges` (every merged range,
    /// the first of which gives `gmem`/`offset`/`size`) and, for a suppressed finding shown with
    /// `--show-suppressed`, `suppressed` (the exception's reason) follow as additions.
    public static func json(_ judged: JudgedFinding) -> JSONValue {
        let finding = judged.finding
        func number(_ value: UInt64?) -> JSONValue { value.map { .number(String($0)) } ?? .null }
        func string(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
        var members: [JSONMember] = [
            JSONMember("id", finding.id.map { .number(String($0)) } ?? .null),
            JSONMember("rule", .string(finding.rule)),
            JSONMember("name", .string(finding.name)),
            JSONMember("severity", .string(judged.severity.rawValue)),
            JSONMember("seq", .number(String(finding.seq))),
            JSONMember("ts", string(finding.ts.map(Timestamp.format))),
            JSONMember("host", .string(finding.host)),
            JSONMember("vm", string(finding.vm)),
            JSONMember("gmem", string(finding.gmem)),
            JSONMember("offset", number(finding.offset)),
            JSONMember("size", number(finding.size)),
            JSONMember("related", .array(finding.related.map { .number(String($0)) })),
            JSONMember("message", .string(finding.message)),
            JSONMember("ranges", .array(finding.ranges.map(\.json))),
        ]
        if let kernel = finding.kernel { members.append(JSONMember("kernel", .string(kernel.rawValue))) }
        if let reason = judged.suppressedBecause { members.append(JSONMember("suppressed", .string(reason))) }
        return .object(members)
    }

    /// One array, one finding a line.
    public static func json(_ findings: [JudgedFinding]) -> String {
        guard !findings.isEmpty else { return "[]" }
        return "[\n" + findings.map { "  " + JSONWriter.string(json($0), sortsKeys: false) }.joined(separator: ",\n") + "\n]"
    }

    /// One object a line (nothing for no findings).
    public static func jsonl(_ findings: [JudgedFinding]) -> String {
        findings.map { JSONWriter.string(json($0), sortsKeys: false) }.joined(separator: "\n")
    }

    public static let csvHeader = "id,rule,name,severity,seq,ts,host,vm,gmem,offset,size,related,message,ranges,suppressed"

    /// A header and one row per finding; `related` and `ranges` are `;`-separated.
    public static func csv(_ findings: [JudgedFinding]) -> String {
        var lines = [csvHeader]
        for judged in findings {
            let finding = judged.finding
            var fields: [String] = [finding.id.map(String.init) ?? "", finding.rule, finding.name, judged.severity.rawValue]
            fields.append(String(finding.seq))
            fields.append(finding.ts.map(Timestamp.format) ?? "")
            fields.append(StateReport.csvField(finding.host))
            fields.append(StateReport.csvField(finding.vm ?? ""))
            fields.append(StateReport.csvField(finding.gmem ?? ""))
            fields.append(finding.offset.map { String($0) } ?? "")
            fields.append(finding.size.map { String($0) } ?? "")
            fields.append(finding.related.map(String.init).joined(separator: ";"))
            fields.append(StateReport.csvField(finding.message))
            fields.append(StateReport.csvField(finding.ranges.map(\.text).joined(separator: ";")))
            fields.append(StateReport.csvField(judged.suppressedBecause ?? ""))
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }

    /// The summary line: how many findings of each severity, over which events, and how many
    /// the policy suppressed.
    public static func summary(_ findings: [JudgedFinding], from: Int64, to: Int64, suppressed: Int) -> String {
        let shown = findings.filter { $0.suppressedBecause == nil }
        var line = "gmem audit of seq \(from)…\(to): "
        if shown.isEmpty {
            line += "no findings"
        } else {
            let counts = Severity.allCases.compactMap { severity -> String? in
                let count = shown.filter { $0.severity == severity }.count
                return count == 0 ? nil : "\(count) \(severity.rawValue)"
            }
            line += "\(shown.count) finding\(shown.count == 1 ? "" : "s") (\(counts.joined(separator: ", ")))"
        }
        if suppressed > 0 { line += "; \(suppressed) suppressed by the policy" }
        return line
    }

    /// The summary line first, then one table per severity, most serious first. Suppressed
    /// findings (when shown) come last with their reasons.
    public static func text(_ findings: [JudgedFinding], from: Int64, to: Int64, suppressed: Int) -> String {
        var out = [summary(findings, from: from, to: to, suppressed: suppressed)]
        let header = ["ID", "SEQ", "RULE", "NAME", "VM", "KERNEL", "RANGE", "RELATED", "MESSAGE"]
        func row(_ judged: JudgedFinding) -> [String] {
            let finding = judged.finding
            var range = finding.ranges.first?.text ?? "-"
            if finding.ranges.count > 1 { range += " (+\(finding.ranges.count - 1) more)" }
            return [
                finding.id.map(String.init) ?? "-", String(finding.seq), finding.rule, finding.name, finding.vm ?? "-",
                finding.kernel?.rawValue ?? "-", range,
                finding.related.isEmpty ? "-" : finding.related.map(String.init).joined(separator: ","), finding.message,
            ]
        }
        for severity in Severity.allCases {
            let group = findings.filter { $0.severity == severity && $0.suppressedBecause == nil }
            guard !group.isEmpty else { continue }
            out.append("")
            out.append("\(severity.rawValue.uppercased()) (\(group.count))")
            out.append(table(header: header, rows: group.map(row)))
        }
        let hidden = findings.filter { $0.suppressedBecause != nil }
        if !hidden.isEmpty {
            out.append("")
            out.append("SUPPRESSED (\(hidden.count))")
            out.append(table(
                header: ["ID", "SEQ", "RULE", "SEVERITY", "RANGE", "REASON"],
                rows: hidden.map { judged in
                    [
                        judged.finding.id.map(String.init) ?? "-", String(judged.finding.seq), judged.finding.rule,
                        judged.severity.rawValue, judged.finding.ranges.first?.text ?? "-", judged.suppressedBecause ?? "",
                    ]
                }))
        }
        return out.joined(separator: "\n")
    }

    /// A SARIF 2.1.0 log: one run; the rules in `tool.driver.rules` with their descriptions and
    /// the policy's level; each finding a result with `ruleId`, a `level` mapped from its
    /// severity, its message, and one logical location `gmem:<gmem>@<offset>` per range
    /// (`gpa:<vm>@<gpa>` for guest addresses no memslot binds). Suppressed findings carry a
    /// SARIF `suppressions` entry with the exception's reason.
    public static func sarif(_ findings: [JudgedFinding], policy: Policy, rules: [any Rule] = RuleCatalog.all) -> String {
        func text(_ value: String) -> JSONValue { .object([JSONMember("text", .string(value))]) }
        let descriptors: [JSONValue] = rules.map { rule in
            let severity = policy.severity(of: rule.id, found: rule.defaultSeverity)
            return .object([
                JSONMember("id", .string(rule.id)),
                JSONMember("name", .string(rule.name)),
                JSONMember("shortDescription", text("Fires on " + rule.firesOn + ".")),
                JSONMember("fullDescription", text("Fires on " + rule.firesOn + ". Why: " + rule.rationale + ".")),
                JSONMember("help", text(rule.rationale)),
                JSONMember("defaultConfiguration", .object([
                    JSONMember("enabled", .bool(policy.isEnabled(rule.id))),
                    JSONMember("level", .string(severity.sarifLevel)),
                ])),
                JSONMember("properties", .object([JSONMember("severity", .string(severity.rawValue))])),
            ])
        }
        let index = Dictionary(uniqueKeysWithValues: rules.enumerated().map { ($1.id, $0) })
        let results: [JSONValue] = findings.map { judged in
            let finding = judged.finding
            var members: [JSONMember] = [JSONMember("ruleId", .string(finding.rule))]
            if let position = index[finding.rule] { members.append(JSONMember("ruleIndex", .number(String(position)))) }
            members.append(JSONMember("level", .string(judged.severity.sarifLevel)))
            members.append(JSONMember("message", text(finding.message)))
            let locations: [JSONValue] = finding.ranges.map { range in
                let name = range.gmem.map { "gmem:\($0)@\(hex(range.offset))" } ?? "gpa:\(range.vm ?? "")@\(hex(range.offset))"
                return .object([
                    JSONMember("logicalLocations", .array([.object([
                        JSONMember("name", .string(name)),
                        JSONMember("fullyQualifiedName", .string(name)),
                        JSONMember("kind", .string("resource")),
                    ])])),
                    JSONMember("properties", .object([JSONMember("size", .number(String(range.size)))])),
                ])
            }
            if !locations.isEmpty { members.append(JSONMember("locations", .array(locations))) }
            if let reason = judged.suppressedBecause {
                members.append(JSONMember("suppressions", .array([.object([
                    JSONMember("kind", .string("external")), JSONMember("justification", .string(reason)),
                ])])))
            }
            var properties: [JSONMember] = [
                JSONMember("seq", .number(String(finding.seq))),
                JSONMember("severity", .string(judged.severity.rawValue)),
                JSONMember("related", .array(finding.related.map { .number(String($0)) })),
                JSONMember("host", .string(finding.host)),
            ]
            if let id = finding.id { properties.insert(JSONMember("findingId", .number(String(id))), at: 0) }
            if let vm = finding.vm { properties.append(JSONMember("vm", .string(vm))) }
            if let ts = finding.ts { properties.append(JSONMember("ts", .string(Timestamp.format(ts)))) }
            members.append(JSONMember("properties", .object(properties)))
            return .object(members)
        }
        let log: JSONValue = .object([
            JSONMember("$schema", .string("https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json")),
            JSONMember("version", .string("2.1.0")),
            JSONMember("runs", .array([.object([
                JSONMember("tool", .object([JSONMember("driver", .object([
                    JSONMember("name", .string("gmem-audit")),
                    JSONMember("rules", .array(descriptors)),
                ]))])),
                JSONMember("results", .array(results)),
            ])])),
        ])
        return JSONWriter.string(log, sortsKeys: false)
    }
}
