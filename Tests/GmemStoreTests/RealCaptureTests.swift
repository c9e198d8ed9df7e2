import Foundation
import GmemStore
import Testing

/// The committed real KVM captures (seeds/real/): the VMM's JSON Lines merged with the kernel's
/// trace replay to exactly the pages the guest really had mapped.
@Suite struct RealCaptureTests {
    static let captures = ["punch-and-retouch", "unbind-teardown"]

    func check(_ name: String, trace: String) throws {
        try TraceFixtures.checkCapture(
            jsonl: TraceFixtures.real("\(name).jsonl"), trace: TraceFixtures.real("\(name).\(trace)"),
            truth: TraceFixtures.real("\(name).truth.json"))
    }

    @Test(arguments: captures)
    func tracefsTextReplaysToTheTruth(_ name: String) throws {
        try check(name, trace: "trace")
    }

    @Test(arguments: captures)
    func traceCmdReportReplaysToTheTruth(_ name: String) throws {
        try check(name, trace: "report.txt")
    }

    /// punch-and-retouch ends with the guest's mapped set still in place: `state` shows it.
    @Test func punchAndRetouchEndsWithTheGuestsPages() throws {
        let store = try TraceFixtures.store()
        _ = try MergeIngest().ingest(
            [(TraceFixtures.real("punch-and-retouch.jsonl"), .jsonl), (TraceFixtures.real("punch-and-retouch.trace"), .ftrace)],
            into: store)
        let state = try store.engine(at: try store.headLink().seq).state
        #expect(TraceFixtures.mappedGFNs(state, gmem: "g1", firstGFN: 0x100000)
            == [0x100000, 0x100001, 0x100002, 0x100004, 0x100005, 0x100007, 0x100008, 0x100009, 0x10000c])
    }

    /// Without the JSONL the trace alone cannot know the binding: every gmem map is unresolved.
    @Test func aTraceAloneNamesNoVM() throws {
        let store = try TraceFixtures.store()
        let summary = try MergeIngest().ingest([(TraceFixtures.real("punch-and-retouch.trace"), nil)], into: store)
        #expect(summary.inputs[0].format == .ftrace)
        #expect(summary.unresolvedVM > 0)
        #expect(try store.engine(at: try store.headLink().seq).state.files.isEmpty)
    }

    /// The same files merged again add nothing.
    @Test func reIngestingTheMergeAddsNothing() throws {
        let store = try TraceFixtures.store()
        let inputs: [(path: String, format: InputFormat?)] = [
            (TraceFixtures.real("unbind-teardown.jsonl"), nil), (TraceFixtures.real("unbind-teardown.trace"), nil),
        ]
        let first = try MergeIngest().ingest(inputs, into: store)
        #expect(first.batch.added > 100)
        let again = try MergeIngest().ingest(inputs, into: store)
        #expect(again.batch.duplicateOfBatch == first.batch.batch)
        #expect(try store.headLink().seq == first.batch.lastSeq)
    }
}
