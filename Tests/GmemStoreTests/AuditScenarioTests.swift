import Foundation
import Testing

@testable import GmemStore

/// Every scenario of seeds/scenarios, audited in a store of its own, gives exactly the findings
/// of its `NN-slug.findings.json`. Compared: rule, name, severity, seq, vm, gmem, offset, size,
/// related and ranges, in order (by seq, then rule). Not compared: id, ts and message.
@Suite struct AuditScenarioTests {
    /// A finding reduced to what the expected files state.
    struct Expected: Equatable, CustomStringConvertible {
        var rule: String
        var name: String
        var severity: String
        var seq: Int64
        var vm: String?
        var gmem: String?
        var offset: UInt64?
        var size: UInt64?
        var related: [Int64]
        var ranges: [FindingRange]

        init(_ finding: Finding) {
            rule = finding.rule
            name = finding.name
            severity = finding.severity.rawValue
            seq = finding.seq
            vm = finding.vm
            gmem = finding.gmem
            offset = finding.offset
            size = finding.size
            related = finding.related
            ranges = finding.ranges
        }

        init(json: JSONValue) throws {
            guard case .object(let members) = json else { throw ScenarioError("a finding is not an object") }
            var fields: [String: JSONValue] = [:]
            for member in members { fields[member.key] = member.value }
            func string(_ key: String) -> String? {
                if case .string(let text)? = fields[key] { return text }
                return nil
            }
            func number(_ key: String) -> UInt64? {
                if case .number(let text)? = fields[key] { return UInt64(text) }
                return nil
            }
            rule = string("rule") ?? ""
            name = string("name") ?? ""
            severity = string("severity") ?? ""
            seq = Int64(number("seq") ?? 0)
            vm = string("vm")
            gmem = string("gmem")
            offset = number("offset")
            size = number("size")
            guard case .array(let relatedValues)? = fields["related"], case .array(let rangeValues)? = fields["ranges"] else {
                throw ScenarioError("a finding lacks related or ranges")
            }
            related = relatedValues.compactMap { if case .number(let text) = $0 { Int64(text) } else { nil } }
            ranges = rangeValues.compactMap(FindingRange.init(json:))
        }

        var description: String { "\(rule) seq \(seq) \(ranges.map(\.text)) related \(related)" }
    }

    struct ScenarioError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static let scenarios = (try? ScenarioFiles.names()) ?? []

    @Test(arguments: scenarios)
    func findingsMatchTheExpectedFile(_ name: String) throws {
        let path = temporaryStorePath(name)
        defer { removeStore(path) }
        let store = try Store(path: path, access: .readWrite)
        try ingest(try ScenarioFiles.text(name, ext: "jsonl"), into: store, name: name + ".jsonl")
        try store.audit()
        let actual = try store.findings().map(Expected.init)
        guard case .array(let values) = try JSONParser.parse(try ScenarioFiles.text(name, ext: "findings.json")) else {
            throw ScenarioError("\(name).findings.json is not a JSON array")
        }
        let expected = try values.map(Expected.init(json:))
        #expect(actual == expected, "\(name): got \(actual), expected \(expected)")
    }

    @Test func everyRuleFiresInSomeScenario() throws {
        var fired: Set<String> = []
        for name in Self.scenarios {
            guard case .array(let values) = try JSONParser.parse(try ScenarioFiles.text(name, ext: "findings.json")) else { continue }
            fired.formUnion(try values.map { try Expected(json: $0).rule })
        }
        #expect(fired == Set(RuleCatalog.all.map(\.id)))
    }

    @Test func theWellBehavedStoriesRaiseNothing() throws {
        for name in Self.scenarios where name.hasPrefix("01-") || name.hasPrefix("06-") {
            #expect(try ScenarioFiles.text(name, ext: "findings.json").trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        }
    }
}
