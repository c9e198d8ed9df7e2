import Foundation
import Testing
@testable import GmemStore

/// The seed scenarios replay to their hand-computed final states.
@Suite struct ScenarioTests {
    @Test("there are at least 8 scenarios, each with an expected state")
    func scenariosExist() {
        #expect(scenarioFiles.count >= 8)
        for scenario in scenarioFiles {
            #expect(FileManager.default.fileExists(atPath: scenario.path.replacingOccurrences(of: ".jsonl", with: ".state.json")), "\(scenario.name)")
        }
    }

    @Test("each scenario's final state is exactly its .state.json", arguments: scenarioFiles.map(\.name))
    func finalState(name: String) throws {
        let scenario = scenarioFiles.first { $0.name == name }!
        let temporary = try TemporaryStore()
        let summary = try JSONLIngest().ingest(path: scenario.path, into: temporary.store)
        #expect(summary.added > 0)
        let state = try temporary.store.engine(at: temporary.store.headLink().seq).state
        let printed = StateReport.json(StateReport.runs(of: state))
        let expected = try String(contentsOfFile: scenario.path.replacingOccurrences(of: ".jsonl", with: ".state.json"), encoding: .utf8)
        #expect(try jsonObject(printed) == jsonObject(expected), "\(name): got\n\(printed)")
    }

    @Test("the embedded scenarios are the files in seeds/scenarios")
    func embeddedScenariosMatchFiles() throws {
        let embedded = SeedScenarios.all
        #expect(embedded.map { String($0.name.dropLast(6)) } == scenarioFiles.map(\.name))
        for (entry, file) in zip(embedded, scenarioFiles) {
            #expect(entry.text == (try String(contentsOfFile: file.path, encoding: .utf8)), "\(entry.name)")
        }
    }

    @Test("a replay from empty gives the state the store persisted, and verify passes", arguments: scenarioFiles.map(\.name))
    func replayEqualsStoredState(name: String) throws {
        let scenario = scenarioFiles.first { $0.name == name }!
        let temporary = try TemporaryStore()
        _ = try JSONLIngest().ingest(path: scenario.path, into: temporary.store)
        let head = try temporary.store.headLink().seq
        let stored = try temporary.store.snapshot(atOrBefore: head)
        #expect(stored.seq == head)
        var engine = Engine()
        try temporary.store.forEachEvent(in: 1...head) { stored in
            engine.apply(try stored.decoded(), seq: stored.seq)
            return true
        }
        #expect(engine.state == stored.state)
        let report = try Verifier(store: temporary.store).run()
        #expect(report.passed, "\(report.problems)")
        #expect(report.events == head)
    }
}
