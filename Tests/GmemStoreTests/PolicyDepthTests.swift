import Foundation
import Testing
@testable import GmemPolicy
@testable import GmemStore

/// A policy file nested thousands deep is refused with its line and exit 65, in YAML and in
/// JSON, instead of overflowing the YAML parser's stack (issue 12 item 11).
@Suite struct PolicyDepthTests {
    /// Deep files of every shape that nests: JSON arrays and objects, YAML flow, compact
    /// block sequences, indentation, complex keys, and a chain of aliases.
    static func deepFiles(depth: Int) -> [(name: String, text: String)] {
        var indented = ""
        for level in 0..<depth { indented += String(repeating: " ", count: level) + "k\(level):\n" }
        indented += String(repeating: " ", count: depth) + "x\n"
        var aliases = "a0: &a0 [x]\n"
        for level in 1..<depth { aliases += "a\(level): &a\(level) [*a\(level - 1)]\n" }
        return [
            ("json-arrays", String(repeating: "[", count: depth) + String(repeating: "]", count: depth)),
            ("json-objects", String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)),
            ("yaml-flow", "rules: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth)),
            ("yaml-sequences", "exceptions:\n" + String(repeating: "- ", count: depth) + "x\n"),
            ("yaml-indentation", indented),
            ("yaml-complex-keys", String(repeating: "? ", count: depth) + "x\n"),
            ("yaml-aliases", aliases),
        ]
    }

    @Test("every deeply nested shape is refused before the parser sees it", arguments: [100, 5_000])
    func refused(depth: Int) {
        for (name, text) in Self.deepFiles(depth: depth) {
            #expect(PolicyDepth.lineExceedingLimit(text) != nil, "\(name) at depth \(depth)")
            do {
                _ = try Policy(yaml: text, file: "deep.yaml")
                Issue.record("\(name) at depth \(depth) was accepted")
            } catch {
                #expect(error.description.contains("nests deeper than \(PolicyDepth.limit) levels"), "\(name): \(error)")
                #expect(error.line != nil)
            }
        }
    }

    @Test("policies as they are written stay within the bound")
    func realPoliciesPass() throws {
        let policies = [
            """
            version: 1
            rules:
              GM-R01:
                severity: warning
                exceptions:
                  - reason: "lab VM, pinned on purpose"   # why
                    vm: td-lab
                    gmem: g1
                    range: {offset: 0x0, size: 0x200000}
                  - reason: |
                      a long reason
                        indented further
                          and further
                    seq: {from: 1, to: 200}
              GM-R08: {enabled: false}
            exceptions:
              - reason: 'shared exception: see ticket'
                host: lab-1
                time:
                  from: 2025-07-18T00:00:00Z
                  to: 2025-07-19T00:00:00Z
            """,
            #"{"version": 1, "rules": {"GM-R01": {"severity": "warning", "exceptions": [{"reason": "r", "vm": "td1", "range": {"offset": 0, "size": 4096}}]}}}"#,
            """
            shared: &lab
              - reason: lab
                vm: td-lab
            rules:
              GM-R02:
                exceptions: *lab
            """,
        ]
        for text in policies { #expect(PolicyDepth.lineExceedingLimit(text) == nil, "\(text)") }
        let parsed = try Policy(yaml: policies[0], file: "policy.yaml")
        #expect(parsed.rules["GM-R01"]?.exceptions.count == 2)
        var long = "version: 1\nexceptions:\n"
        for index in 0..<2_000 { long += "  - reason: r\(index)\n    seq:\n      from: \(index)\n" }
        #expect(PolicyDepth.lineExceedingLimit(long) == nil, "a long list is not deep")
        #expect(try Policy(yaml: long, file: "long.yaml").exceptions.count == 2_000)
    }

    @Test("a file of a million brackets is refused at once")
    func hugeDepthIsFast() {
        let start = ContinuousClock.now
        let text = String(repeating: "[", count: 1_000_000)
        #expect(PolicyDepth.lineExceedingLimit(text) == 1)
        #expect(throws: PolicyError.self) { try Policy(yaml: text, file: "deep.json") }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test("audit --policy with a file nested 5,000 deep exits 65 with the file and line, in YAML and JSON")
    func auditRefuses() throws {
        let temporary = try TemporaryStore()
        let scenario = try #require(scenarioFiles.first)
        #expect(try runCLI(["ingest", "--db", temporary.path, scenario.path]).status == 0)
        for (name, text) in Self.deepFiles(depth: 5_000) {
            let file = try temporary.file(name + (name.hasPrefix("json") ? ".json" : ".yaml"), text)
            let result = try runCLI(["audit", "--db", temporary.path, "--policy", file])
            #expect(result.reason == .exit && result.status == 65, "\(name): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains(file + ":") && result.stderr.contains("nests deeper than"), "\(name): \(result.stderr)")
        }
    }
}
