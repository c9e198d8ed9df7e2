import Testing
@testable import GmemStore

/// The auditor calls the catalog's rules on their own types when its rules are the catalog
/// (docs/PERFORMANCE.md, "Audit"), and through `any Rule` otherwise: both give the same findings.
@Suite struct AuditCatalogPathTests {
    /// A rule seen only through `any Rule`, so that an auditor given these is not the catalog.
    private struct Opaque: Rule {
        let rule: any Rule
        var id: String { rule.id }
        var name: String { rule.name }
        var defaultSeverity: Severity { rule.defaultSeverity }
        var firesOn: String { rule.firesOn }
        var rationale: String { rule.rationale }
        func check(_ context: RuleContext) -> Detection? { rule.check(context) }
    }

    @Test func onlyTheCatalogInItsOrderTakesTheDirectPath() {
        #expect(Auditor().rulesAreTheCatalog)
        #expect(Auditor(rules: RuleCatalog.all).rulesAreTheCatalog)
        #expect(!Auditor(rules: Array(RuleCatalog.all.reversed())).rulesAreTheCatalog)
        #expect(!Auditor(rules: Array(RuleCatalog.all.dropLast())).rulesAreTheCatalog)
        #expect(!Auditor(rules: RuleCatalog.all.map { Opaque(rule: $0) }).rulesAreTheCatalog)
    }

    /// Both kernel profiles, a misbehaving generated log: every event's findings are the same
    /// through either path, and the run finds some.
    @Test(arguments: [KernelProfile.rfc2025, .upstream2026])
    func bothPathsFindTheSame(kernel: KernelProfile) {
        let configuration = generatorConfiguration(events: 6_000, seed: 11, misbehaviour: 0.1, kernel: kernel)
        var direct = Auditor()
        var opaque = Auditor(rules: RuleCatalog.all.map { Opaque(rule: $0) })
        var total = 0
        for (index, event) in LogGenerator(configuration).enumerated() {
            let seq = Int64(index + 1)
            let found = direct.audit(event, seq: seq)
            #expect(found == opaque.audit(event, seq: seq), "seq \(seq)")
            total += found.count
        }
        #expect(total > 0)
        #expect(direct.memory == opaque.memory)
    }

    /// The catalog path calls a rule only on the ops of its `CatalogRule.ops`: through `any
    /// Rule` every rule is asked about every event of misbehaving generated logs under both
    /// profiles, and no finding's op lies outside its rule's set.
    @Test(arguments: [KernelProfile.rfc2025, .upstream2026])
    func noRuleFiresOutsideItsOps(kernel: KernelProfile) {
        let configuration = generatorConfiguration(events: 20_000, seed: 23, misbehaviour: 0.2, kernel: kernel)
        var ops: [String: OpSet] = [:]
        for rule in RuleCatalog.all {
            guard let catalogRule = rule as? any CatalogRule else {
                Issue.record("\(rule.id) does not say which ops it fires on")
                continue
            }
            ops[rule.id] = type(of: catalogRule).ops
        }
        var opaque = Auditor(rules: RuleCatalog.all.map { Opaque(rule: $0) })
        var fired: Set<String> = []
        for (index, event) in LogGenerator(configuration).enumerated() {
            for finding in opaque.audit(event, seq: Int64(index + 1)) {
                fired.insert(finding.rule)
                #expect(ops[finding.rule]?.contains(OpSet(event.op.kind)) == true, "\(finding.rule) fired on \(event.op.name) at seq \(index + 1)")
            }
        }
        #expect(fired.count >= 8, "rules that fired: \(fired.sorted())")
    }
}
