import Testing

@testable import GmemPolicy
@testable import GmemStore

/// The policy file: per-rule enabled and severity, exceptions with reasons, and errors that
/// name the line.
@Suite struct PolicyFileTests {
    static func finding(
        _ rule: String, seq: Int64 = 10, vm: String? = "td1", gmem: String = "g1", offset: UInt64 = 0x2000, size: UInt64 = 0x1000,
        host: String = "local", ts: Int64? = 1_752_836_400_000_000_000
    ) -> Finding {
        Finding(
            rule: rule, name: RuleCatalog.rule(rule)!.name, severity: RuleCatalog.rule(rule)!.defaultSeverity, seq: seq, ts: ts,
            host: host, vm: vm, ranges: [FindingRange(gmem: gmem, offset: offset, size: size)], related: [], message: "m")
    }

    static let sample = """
        # lab policy
        version: 1
        rules:
          GM-R03:
            enabled: false
          GM-R07:
            severity: warning
          GM-R08:
            exceptions:
              - reason: "known leak in the unplug path"
                vm: td1
                gmem: g1
                range: {offset: 0x2000, size: 0x2000}
        exceptions:
          - reason: lab host replays a broken capture
            host: lab7
          - reason: seqs 100-200 are a fault-injection run
            seq: {from: 100, to: 200}
          - reason: before the firmware update
            time: {to: "2025-07-18T10:00:00Z"}
        """

    @Test func severitiesAndSwitchesApply() throws {
        let policy = try Policy(yaml: Self.sample, file: "lab.yaml")
        #expect(policy.judge(Self.finding("GM-R03")) == nil)
        #expect(policy.judge(Self.finding("GM-R07"))?.severity == .warning)
        #expect(policy.judge(Self.finding("GM-R01"))?.severity == .critical)
        #expect(policy.judge(Self.finding("GM-R01"))?.suppressedBecause == nil)
    }

    @Test func exceptionsSuppressWithTheirReason() throws {
        let policy = try Policy(yaml: Self.sample, file: "lab.yaml")
        #expect(policy.judge(Self.finding("GM-R08"))?.suppressedBecause == "known leak in the unplug path")
        // Outside the range, another VM, or another rule: not suppressed.
        #expect(policy.judge(Self.finding("GM-R08", offset: 0x3000, size: 0x2000))?.suppressedBecause == nil)
        #expect(policy.judge(Self.finding("GM-R08", vm: "td2"))?.suppressedBecause == nil)
        #expect(policy.judge(Self.finding("GM-R02"))?.suppressedBecause == nil)
        #expect(policy.judge(Self.finding("GM-R02", host: "lab7"))?.suppressedBecause == "lab host replays a broken capture")
        #expect(policy.judge(Self.finding("GM-R02", seq: 150))?.suppressedBecause == "seqs 100-200 are a fault-injection run")
        #expect(policy.judge(Self.finding("GM-R02", seq: 201))?.suppressedBecause == nil)
        #expect(policy.judge(Self.finding("GM-R02", ts: Timestamp.parse("2025-07-18T09:00:00Z")))?.suppressedBecause == "before the firmware update")
        #expect(policy.judge(Self.finding("GM-R02", ts: nil))?.suppressedBecause == nil)
    }

    @Test func jsonIsAcceptedToo() throws {
        let policy = try Policy(yaml: #"{"rules": {"GM-R11": {"severity": "critical"}}}"#, file: "p.json")
        #expect(policy.judge(Self.finding("GM-R11"))?.severity == .critical)
    }

    @Test func anUnknownRuleIsAnErrorNamingItsLine() {
        let text = "rules:\n  GM-R01:\n    severity: error\n  GM-R16:\n    enabled: false\n"
        #expect {
            try Policy(yaml: text, file: "p.yaml")
        } throws: { error in
            let error = error as? PolicyError
            return error?.line == 4 && error?.description.hasPrefix("p.yaml:4: unknown rule 'GM-R16'") == true
        }
    }

    @Test func anUnknownFieldIsAnErrorNamingItsLine() {
        let text = "rules:\n  GM-R01:\n    sevrity: error\n"
        #expect {
            try Policy(yaml: text, file: "p.yaml")
        } throws: { error in
            (error as? PolicyError)?.description == "p.yaml:3: unknown field 'sevrity' in rule GM-R01; the fields are enabled, severity, exceptions"
        }
        #expect {
            try Policy(yaml: "exceptions:\n  - reason: r\n    pfn: 3\n", file: "p.yaml")
        } throws: { error in
            (error as? PolicyError)?.line == 3
        }
        #expect {
            try Policy(yaml: "rule:\n  GM-R01: {}\n", file: "p.yaml")
        } throws: { error in
            (error as? PolicyError)?.line == 1
        }
    }

    @Test func badValuesAndMissingReasonsAreErrors() {
        let cases: [(String, Int)] = [
            ("rules:\n  GM-R01:\n    severity: severe\n", 3),
            ("rules:\n  GM-R01:\n    enabled: maybe\n", 3),
            ("exceptions:\n  - vm: td1\n", 2),
            ("exceptions:\n  - reason: everything\n", 2),
            ("exceptions:\n  - reason: r\n    range: {offset: 0, size: 4096}\n", 2),
            ("rules: [\n", 2),
        ]
        for (text, line) in cases {
            #expect(throws: PolicyError.self) { try Policy(yaml: text, file: "p.yaml") }
            do {
                _ = try Policy(yaml: text, file: "p.yaml")
            } catch {
                #expect(error.line == line, "\(text): \(error)")
            }
        }
    }
}
