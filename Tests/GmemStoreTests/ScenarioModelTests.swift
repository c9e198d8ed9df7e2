import Foundation
import Testing
@testable import GmemStore

/// The seed scenarios' expected files, checked by the page-by-page model: its final state is
/// the engine's (which ScenarioTests holds to `.state.json`), and its findings are those of
/// `.findings.json` (rule, seq, severity, pages).
@Suite struct ScenarioModelTests {
    static let scenarios = ((try? ScenarioFiles.names()) ?? []).filter { !$0.hasPrefix("06-") }  // 06: 2^28 pages

    @Test("each scenario's expected findings and final state follow from the page-by-page model", arguments: scenarios)
    func modelAgreesWithExpectedFiles(name: String) throws {
        var model = ReferenceModel()
        var engine = Engine()
        var found: [(seq: Int64, finding: ReferenceModel.Found)] = []
        var seq: Int64 = 0
        for line in try ScenarioFiles.text(name, ext: "jsonl").split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
            seq += 1
            let event = try Event(jsonLine: String(line))
            engine.apply(event, seq: seq)
            found += model.apply(event, seq: seq).findings.map { (seq, $0) }
        }
        #expect(EngineModelTests.difference(engine, model) == nil, "\(name)")
        let expected = try JSONSerialization.jsonObject(with: Data(try ScenarioFiles.text(name, ext: "findings.json").utf8)) as! [[String: Any]]
        func key(_ seq: Int64, _ rule: String, _ severity: String, _ pages: Set<String>) -> String {
            "\(seq) \(rule) \(severity) \(pages.sorted())"
        }
        let fromFile = expected.map { finding -> String in
            var pages: Set<String> = []
            for range in finding["ranges"] as! [[String: Any]] {
                // GM-R13's ranges are the unplaced addresses, not pages.
                if let gmem = range["gmem"] as? String, finding["rule"] as? String != "GM-R13" {
                    let offset = (range["offset"] as! NSNumber).uint64Value
                    let size = (range["size"] as! NSNumber).uint64Value
                    for page in (offset / 4096)..<((offset + size) / 4096) { pages.insert("\(gmem)@\(page)") }
                }
            }
            return key((finding["seq"] as! NSNumber).int64Value, finding["rule"] as! String, finding["severity"] as! String, pages)
        }
        let fromModel = found.map { key($0.seq, $0.finding.rule, $0.finding.severity.rawValue, $0.finding.pages) }
        #expect(fromModel == fromFile, "\(name)")
    }
}
