import Testing

@testable import GmemStore

/// The output shapes of `audit`: the CLI.md JSON finding, text grouped by severity with the
/// summary first, CSV, and SARIF 2.1.0.
@Suite struct AuditReportTests {
    static func judged() throws -> [JudgedFinding] {
        var findings = try auditLog(AuditRuleTests.pinnedTD + """
            {"op":"convert_request","vm":"td","gpa":"0x80002000","size":"0x2000","to":"shared","ts":"2025-07-18T11:12:48.123456789Z"}
            {"op":"zap","gmem":"g","offset":"0x0","size":"0x1000","result":"EIO"}
            {"op":"map","vm":"td","gpa":"0x90000000","size":"0x1000"}
            """)
        for index in findings.indices { findings[index].id = Int64(index + 1) }
        return findings.compactMap(Policy().judge)
    }

    @Test func jsonKeepsTheKeysAndOrderOfCLIMD() throws {
        let line = FindingReport.jsonl(try Self.judged()).split(separator: "\n")[0]
        #expect(line.hasPrefix(#"{"id":1,"rule":"GM-R01","name":"convert-pinned-to-shared","severity":"critical","seq":7,"ts":"2025-07-18T11:12:48.123456789Z","host":"local","vm":"td","gmem":"g","offset":8192,"size":8192,"related":[6],"message":"#))
        #expect(line.hasSuffix(#","ranges":[{"gmem":"g","offset":8192,"size":8192}],"kernel":"rfc-2025"}"#))
    }

    @Test func textPutsTheSummaryFirstAndGroupsBySeverity() throws {
        let text = FindingReport.text(try Self.judged(), from: 1, to: 9, suppressed: 0)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "gmem audit of seq 1…9: 3 findings (1 critical, 1 error, 1 warning)")
        let critical = try #require(lines.firstIndex(of: "CRITICAL (1)"))
        let error = try #require(lines.firstIndex(of: "ERROR (1)"))
        let warning = try #require(lines.firstIndex(of: "WARNING (1)"))
        #expect(critical < error && error < warning)
    }

    @Test func csvHasAHeaderAndOneRowPerFinding() throws {
        let csv = FindingReport.csv(try Self.judged()).split(separator: "\n")
        #expect(csv[0] == Substring(FindingReport.csvHeader))
        #expect(csv.count == 4)
        #expect(csv[1].hasPrefix("1,GM-R01,convert-pinned-to-shared,critical,7,2025-07-18T11:12:48.123456789Z,local,td,g,8192,8192,6,"))
    }

    @Test func sarifHasOneRunTheRulesAndOneResultPerFinding() throws {
        let findings = try Self.judged()
        let text = FindingReport.sarif(findings, policy: Policy())
        guard case .object(let log) = try JSONParser.parse(text) else { Issue.record("not an object"); return }
        #expect(log.first { $0.key == "version" }?.value == .string("2.1.0"))
        guard case .array(let runs)? = log.first(where: { $0.key == "runs" })?.value, runs.count == 1,
            case .object(let run) = runs[0], case .array(let results)? = run.first(where: { $0.key == "results" })?.value
        else { Issue.record("no single run with results"); return }
        #expect(results.count == findings.count)
        #expect(text.contains(#""ruleId":"GM-R01","ruleIndex":0,"level":"error""#))
        #expect(text.contains(#""fullyQualifiedName":"gmem:g@0x2000""#))
        #expect(text.contains(#""fullyQualifiedName":"gpa:td@0x90000000""#))
        for rule in RuleCatalog.all { #expect(text.contains(#"{"id":"\#(rule.id)","name":"\#(rule.name)","#)) }
        #expect(text.contains(#""ruleId":"GM-R13","ruleIndex":12,"level":"warning""#))
    }

    @Test func severitiesMapToSarifLevels() {
        #expect(Severity.allCases.map(\.sarifLevel) == ["error", "error", "error", "error", "warning", "note", "note", "none"])
        #expect(Severity.error.isAtLeast(.error) && Severity.critical.isAtLeast(.error) && !Severity.warning.isAtLeast(.error))
    }
}
