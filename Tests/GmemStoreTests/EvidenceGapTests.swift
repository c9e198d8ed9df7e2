import Foundation
import Testing

@testable import GmemStore

/// The `gap` op (EVENTS.md §2), its trust marks (docs/MODEL.md "Gaps") and GM-R15 through every
/// codec, the engine, the store, the queries and the trace readers.
@Suite struct EvidenceGapTests {
    /// A TD with one 64 KiB file, mapped and accepted: seqs 1…6 (AuditRuleTests.plainTD).
    static let td = AuditRuleTests.plainTD

    // MARK: Decoding and the codecs

    @Test func decodesWithAndWithoutACount() throws {
        let counted = try Event(jsonLine: #"{"op":"gap","source":"ftrace cpu 2","lost":1834}"#)
        #expect(counted.op == .gap(source: "ftrace cpu 2", lost: 1834))
        #expect(counted.actor == "host")
        let uncounted = try Event(jsonLine: #"{"op":"gap","source":"trace_pipe","lost":"0x10","note":"x"}"#)
        #expect(uncounted.op == .gap(source: "trace_pipe", lost: 16))
        #expect(try Event(jsonLine: #"{"op":"gap","source":"s"}"#).op == .gap(source: "s", lost: nil))
    }

    @Test func aGapWithoutSourceOrWithABadCountIsADecodeError() {
        #expect(throws: EventDecodingError(field: "source", "missing")) { try Event(jsonLine: #"{"op":"gap","lost":3}"#) }
        #expect(throws: EventDecodingError.self) { try Event(jsonLine: #"{"op":"gap","source":"s","lost":-1}"#) }
        #expect(throws: EventDecodingError.self) { try Event(jsonLine: #"{"op":"gap","source":"","lost":1}"#) }
        #expect(throws: EventDecodingError.self) { try Event(jsonLine: #"{"op":"gap","source":"a\u0001b"}"#) }
    }

    @Test func theFastDecoderAndTheGeneralOneAgree() throws {
        for line in [
            #"{"op":"gap","source":"ftrace cpu 2","lost":1834,"ts":5,"id":"x"}"#,
            #"{"op":"gap","source":"ftrace cpu 0"}"#,
            #"{"op":"gap","source":"s","lost":"0x20","src":{"file":"t.trace","line":9,"text":"CPU:0 [LOST 32 EVENTS]"}}"#,
        ] {
            let fast = try #require(line.utf8CString.withUnsafeBufferPointer { pointer in
                pointer.withMemoryRebound(to: UInt8.self) { EventLineDecoder.decode(UnsafeBufferPointer(rebasing: $0.dropLast())) }
            })
            guard case .object = try JSONParser.parse(line) else { Issue.record("not an object"); continue }
            #expect(fast == (try Event(json: try JSONParser.parse(line))))
        }
    }

    @Test func canonicalJSONIsTheSameOnBothWritersAndDecodesBack() throws {
        let event = Event(.gap(source: "ftrace cpu 3", lost: 7), ts: 12, note: "n")
        let canonical = event.canonicalJSON
        #expect(canonical == #"{"actor":"host","host":"local","lost":7,"note":"n","op":"gap","source":"ftrace cpu 3","ts":12}"#)
        var withExtra = event
        withExtra.extra = [JSONMember("zz", .bool(true))]
        #expect(withExtra.canonicalJSON == #"{"actor":"host","host":"local","lost":7,"note":"n","op":"gap","source":"ftrace cpu 3","ts":12,"zz":true}"#)
        #expect(try Event(jsonLine: canonical) == event)
        let uncounted = Event(.gap(source: "s", lost: nil))
        #expect(uncounted.canonicalJSON == #"{"actor":"host","host":"local","op":"gap","source":"s"}"#)
    }

    @Test func theStoredRowGivesTheEventBackAndVerifyPasses() throws {
        let temporary = try TemporaryStore()
        try ingest(Self.td + """
            {"op":"gap","source":"ftrace cpu 2","lost":1834}
            {"op":"gap","source":"trace_pipe"}
            """, into: temporary.store)
        let seven = try #require(try temporary.store.storedEvent(7))
        #expect(seven.event.op == .gap(source: "ftrace cpu 2", lost: 1834))
        #expect(try temporary.store.storedEvent(8)?.event.op == .gap(source: "trace_pipe", lost: nil))
        let view = try temporary.store.database.prepare("SELECT op, label, count FROM event_view WHERE seq = 7")
        #expect(try view.step())
        #expect(view.string(0) == "gap" && view.string(1) == "ftrace cpu 2" && view.int(2) == 1834)
        let report = try Verifier(store: temporary.store).run()
        #expect(report.passed, "\(report.problems)")
    }

    // MARK: The op table of older stores

    /// A store made before `gap` existed has 20 op rows: `verify` accepts it as it is, and its
    /// first writing open appends the new row, so a gap can be stored and named.
    @Test func aStoreWithoutTheGapRowStaysReadableAndGetsItWhenWritten() throws {
        let temporary = try TemporaryStore()
        try ingest(Self.td, into: temporary.store)
        try temporary.store.database.execute("DELETE FROM op WHERE code > 20")
        #expect(try temporary.count("op") == 20)
        let readOnly = try temporary.open(.readOnly(immutable: false))
        let before = try Verifier(store: readOnly).run()
        #expect(before.passed, "\(before.problems)")
        let writer = try temporary.open()
        #expect(try writer.database.scalarInt("SELECT count(*) FROM op") == Int64(EventRow.opNames.count))
        try ingest(#"{"op":"gap","source":"s","lost":1}"#, into: writer, name: "more.jsonl")
        #expect(try writer.database.scalarInt("SELECT count(*) FROM event_view WHERE op = 'gap'") == 1)
        let after = try Verifier(store: writer).run()
        #expect(after.passed, "\(after.problems)")
    }

    @Test func verifyRefusesAnOpTableThatLacksACodeInUseOrNamesOneOtherwise() throws {
        let temporary = try TemporaryStore()
        try ingest(Self.td + #"{"op":"gap","source":"s"}"#, into: temporary.store)
        try temporary.store.database.execute("DELETE FROM op WHERE code = 21")
        let cut = try Verifier(store: temporary.store).run()
        #expect(cut.problems.contains { $0.contains("an event uses code 21") }, "\(cut.problems)")
        try temporary.store.database.execute("INSERT INTO op(code, name) VALUES (21, 'retract')")
        let renamed = try Verifier(store: temporary.store).run()
        #expect(renamed.problems.contains { $0.contains("differs from the vocabulary at code 21") }, "\(renamed.problems)")
    }

    // MARK: The engine's trust marks

    @Test func aGapMarksOpenFilesAndLiveVMsFromItsSeqOnAndLaterOnesStartTrusted() throws {
        var engine = Engine()
        var seq: Int64 = 0
        func apply(_ line: String) throws -> Verdict {
            seq += 1
            return engine.apply(try Event(jsonLine: line), seq: seq)
        }
        for line in Self.td.split(separator: "\n") { _ = try apply(String(line)) }
        _ = try apply(#"{"op":"gmem_create","vm":"td","gmem":"closed","size":"0x1000"}"#)  // 7
        _ = try apply(#"{"op":"gmem_close","gmem":"closed"}"#)  // 8
        let gap = try apply(#"{"op":"gap","source":"ftrace cpu 1","lost":3}"#)  // 9
        #expect(gap.expected == "ok")
        #expect(gap.pieces == [Piece(file: 0, pages: 0..<16, address: 0)])
        #expect(engine.state.vms["td"]?.untrustedSince == 9)
        #expect(engine.state.file("g")?.untrustedSince == 9)
        #expect(engine.state.files[1].untrustedSince == nil, "a file closed before the gap is not marked")
        _ = try apply(#"{"op":"gmem_create","vm":"td","gmem":"later","size":"0x2000"}"#)  // 10
        #expect(engine.state.file("later")?.untrustedSince == nil)
        _ = try apply(#"{"op":"gap","source":"ftrace cpu 1"}"#)  // 11
        #expect(engine.state.file("g")?.untrustedSince == 9, "a later gap does not move the mark")
        #expect(engine.state.file("later")?.untrustedSince == 11)
        _ = try apply(#"{"op":"vm_destroy","vm":"td"}"#)  // 12
        _ = try apply(#"{"op":"gap","source":"s"}"#)  // 13
        #expect(engine.state.vms["td"]?.untrustedSince == 9)
        _ = try apply(#"{"op":"vm_create","vm":"td"}"#)  // 14
        #expect(engine.state.vms["td"]?.untrustedSince == nil, "a VM created again starts trusted")
        // The page state is untouched by every gap.
        var plain = Engine()
        for line in Self.td.split(separator: "\n") { plain.apply(try Event(jsonLine: String(line))) }
        plain.apply(try Event(jsonLine: #"{"op":"gap","source":"s"}"#))
        var reference = Engine()
        for line in Self.td.split(separator: "\n") { reference.apply(try Event(jsonLine: String(line))) }
        #expect(plain.state.file("g")?.pages == reference.state.file("g")?.pages)
    }

    @Test func snapshotsKeepTheMarksAndAStateWithoutThemEncodesAsBefore() throws {
        var engine = Engine()
        for (index, line) in Self.td.split(separator: "\n").enumerated() {
            engine.apply(try Event(jsonLine: String(line)), seq: Int64(index + 1))
        }
        let before = StateCodec.encode(engine.state)
        engine.apply(Event(.gap(source: "s", lost: nil)), seq: 300)
        let after = StateCodec.encode(engine.state)
        #expect(after != before)
        #expect(try StateCodec.decode(after) == engine.state)
        #expect(try StateCodec.decode(after).vms["td"]?.untrustedSince == 300)
        #expect(after.count == before.count + 4, "one varint of 300 for the VM and one for the file")
    }

    // MARK: GM-R15

    @Test func r15FiresOnAGapCoveringEveryOpenFile() throws {
        let findings = try auditLog(Self.td + """
            {"op":"gmem_create","vm":"td","gmem":"h","size":"0x2000"}
            {"op":"gap","source":"ftrace cpu 2","lost":1834}
            """)
        #expect(findings.count == 1)
        let finding = try #require(findings.first)
        #expect(finding.rule == "GM-R15" && finding.name == "evidence-gap" && finding.severity == .error)
        #expect(finding.seq == 8)
        #expect(finding.ranges == [fileRange("g", 0, 0x10000), fileRange("h", 0, 0x2000)])
        #expect(finding.related == [])
        #expect(finding.message.contains("'ftrace cpu 2' lost 1834 events"), "\(finding.message)")
    }

    @Test func r15FiresAlsoWithNoFileOpen() throws {
        let findings = try auditLog(#"{"op":"gap","source":"trace_pipe"}"#)
        #expect(findings.map(\.rule) == ["GM-R15"])
        #expect(findings.first?.ranges == [])
        #expect(findings.first?.message.contains("an unknown number of events") == true)
    }

    @Test func r15SilentWithoutAGap() throws {
        #expect(try auditLog(Self.td + #"{"op":"context","tracepoint":"kvm_exit"}"#).isEmpty)
    }

    @Test func r15SeverityIsDataAPolicyFileChangesIt() throws {
        var policy = Policy()
        var settings = Policy.RuleSettings()
        settings.severity = .warning
        policy.rules["GM-R15"] = settings
        let finding = try #require(try auditLog(#"{"op":"gap","source":"s"}"#).first)
        #expect(finding.severity == .error)
        #expect(policy.judge(finding)?.severity == .warning)
    }

    // MARK: Queries

    @Test func stateHistoryAndExplainShowTheMark() throws {
        let temporary = try TemporaryStore()
        try ingest(Self.td + """
            {"op":"gap","source":"ftrace cpu 2","lost":5}
            {"op":"host_access","gmem":"g","offset":"0x1000","size":"0x1000","result":"ok"}
            """, into: temporary.store)
        try temporary.store.audit()
        let state = try temporary.store.engine(at: 8).state
        let runs = StateReport.runs(of: state)
        #expect(!runs.isEmpty && runs.allSatisfy { $0.untrustedSince == 7 })
        #expect(StateReport.json(runs).contains(#""untrusted_since":7"#))
        #expect(StateReport.text(runs).contains("UNTRUSTED") && StateReport.text(runs).contains("since seq 7"))
        #expect(StateReport.csv(runs).split(separator: "\n")[1].hasSuffix(",7"))
        // Before the gap: no mark, and the text table as it always was.
        let earlier = StateReport.runs(of: try temporary.store.engine(at: 6).state)
        #expect(earlier.allSatisfy { $0.untrustedSince == nil })
        #expect(!StateReport.text(earlier).contains("UNTRUSTED"))
        // The page's history shows the gap itself and the mark after it.
        let entries = try History(store: temporary.store).entries(for: .file(gmem: "g", offset: 0x1000, size: 0x1000))
        #expect(entries.map(\.seq) == [3, 4, 5, 6, 7, 8])
        #expect(entries[4].before.allSatisfy { $0.untrustedSince == nil } && entries[4].after.allSatisfy { $0.untrustedSince == 7 })
        let text = HistoryFormat.text(entries)
        #expect(text.contains("gap ftrace cpu 2 lost 5 events"), "\(text)")
        #expect(text.contains("UNTRUSTED since seq 7"))
        // The finding on the host access after the gap is explained with the mark.
        let access = try #require(try temporary.store.findings().first { $0.rule == "GM-R07" })
        let explanation = try #require(try Explainer(store: temporary.store).explain(id: access.id!))
        #expect(explanation.steps.last?.before.allSatisfy { $0.untrustedSince == 7 } == true)
        #expect(ExplainFormat.text(explanation).contains("UNTRUSTED since seq 7"))
    }

    @Test func snapshotsAfterAGapAgreeWithAFullReplay() throws {
        let temporary = try TemporaryStore()
        temporary.store.snapshotInterval = 4
        try ingest(Self.td + """
            {"op":"gap","source":"s"}
            {"op":"map","gmem":"g","offset":"0x0","size":"0x1000"}
            {"op":"gmem_create","vm":"td","gmem":"h","size":"0x1000"}
            {"op":"gap","source":"t"}
            {"op":"map","gmem":"h","offset":"0x0","size":"0x1000"}
            """, into: temporary.store)
        for seq in Int64(1)...11 {
            var replayed = Engine()
            try temporary.store.forEachEvent(in: 1...seq) { stored in
                replayed.apply(stored.event, seq: stored.seq)
                return true
            }
            #expect(try temporary.store.engine(at: seq).state == replayed.state, "seq \(seq)")
        }
        #expect(try temporary.store.engine(at: 11).state.file("h")?.untrustedSince == 10)
        let report = try Verifier(store: temporary.store).run()
        #expect(report.passed, "\(report.problems)")
    }

    // MARK: Trace readers

    func read(_ line: String) -> TraceLineReading {
        FtraceReader.read(line, file: "t.trace", number: 7)
    }

    @Test func ftraceLostLinesAreGaps() {
        func gap(_ line: String) -> TraceRecord.Kind? {
            if case .record(let record) = read(line) { return record.kind }
            return nil
        }
        #expect(gap("CPU:1 [LOST 1234 EVENTS]") == .gap(source: "ftrace cpu 1", lost: 1234))
        #expect(gap("CPU:12 [3 EVENTS DROPPED]") == .gap(source: "ftrace cpu 12", lost: 3))
        #expect(gap("CPU:0 [EVENTS DROPPED]") == .gap(source: "ftrace cpu 0", lost: nil))
        #expect(gap("# entries-in-buffer/entries-written: 140080/250880   #P:4")
            == .gap(source: "ftrace ring buffer (overwritten before the first line)", lost: 110_800))
        #expect(read("# entries-in-buffer/entries-written: 5/5   #P:4") == .ignored)
        #expect(read("# tracer: nop") == .ignored)
        // A loss whose count does not read is still a loss: a gap without a count.
        #expect(gap("CPU:1 [LOST many EVENTS]") == .gap(source: "ftrace cpu 1", lost: nil))
        #expect(read("CPU:1 something else") == .skipped(name: "(not a trace line)"))
        if case .record(let record) = read("CPU:1 [LOST 9 EVENTS]") {
            #expect(record.ts == nil)
            #expect(record.source == EventSource(file: "t.trace", line: 7, text: "CPU:1 [LOST 9 EVENTS]"))
        }
    }

    @Test func anFtraceFileWithALostLineStoresAGapAndRaisesR15() throws {
        let temporary = try TemporaryStore()
        let vmm = try temporary.file("vmm.jsonl", """
            {"op":"vm_create","vm":"td","ts":1000000000}
            {"op":"gmem_create","vm":"td","gmem":"g","size":"0x4000","ts":1000000001}
            {"op":"bind","vm":"td","gmem":"g","slot":1,"gpa":"0x100000","size":"0x4000","offset":"0x0","ts":1000000002}

            """)
        let trace = try temporary.file("kernel.trace", """
            # tracer: nop
            #
            # entries-in-buffer/entries-written: 2/2   #P:2
             qemu-1 [000] ...1.     2.000000: kvm_mmu_set_spte: gfn 100 spte 1226e0e67 (rwxu) level 1 at 0
            CPU:1 [LOST 77 EVENTS]
             qemu-1 [001] ...1.     3.000000: kvm_mmu_set_spte: gfn 101 spte 1226e1e67 (rwxu) level 1 at 0

            """)
        let summary = try MergeIngest().ingest([(vmm, nil), (trace, .ftrace)], into: temporary.store)
        #expect(summary.batch.added == 6)
        let ops = try storedEvents(temporary.store).map(\.event.op.name)
        #expect(ops == ["vm_create", "gmem_create", "bind", "map", "gap", "map"])
        let gap = try #require(try temporary.store.storedEvent(5))
        #expect(gap.event.op == .gap(source: "ftrace cpu 1", lost: 77))
        #expect(gap.event.source?.line == 5)
        try temporary.store.audit()
        #expect(try temporary.store.findings().map(\.rule) == ["GM-R15"])
        #expect(try temporary.store.engine(at: 6).state.file("g")?.untrustedSince == 5)
    }

    @Test func aLogWithGapsExportsAndReingestsToTheSameHeads() throws {
        let first = try TemporaryStore()
        try ingest(Self.td + """
            {"op":"gap","source":"ftrace cpu 2","lost":1834,"note":"CPU:2 [LOST 1834 EVENTS]"}
            {"op":"host_access","gmem":"g","offset":"0x1000","size":"0x1000","result":"ok"}
            {"op":"gap","source":"trace_pipe"}
            """, into: first.store)
        var exported = ""
        try Exporter(store: first.store).write(.jsonl, seqs: 1...9, to: &exported)
        let second = try TemporaryStore()
        let path = try second.file("export.jsonl", exported)
        _ = try JSONLIngest(addsSource: false).ingest(path: path, into: second.store)
        #expect(try first.store.headLink() == second.store.headLink())
        #expect(try first.store.engine(at: 9).state == second.store.engine(at: 9).state)
        try first.store.audit()
        try second.store.audit()
        #expect(try first.store.findings() == second.store.findings())
    }
}

/// A store audited before GM-R15 existed keeps verifying: its audit head names the catalog
/// without the new rule, whose findings (none: no gap could be stored) match a fresh audit.
@Suite struct OlderCatalogTests {
    @Test func anAuditHeadOfTheCatalogBeforeGM15Verifies() throws {
        let temporary = try TemporaryStore()
        try ingest(AuditRuleTests.plainTD + #"{"op":"host_access","gmem":"g","offset":"0x0","size":"0x1000","result":"ok"}"#, into: temporary.store)
        try temporary.store.audit()
        let older = RuleCatalog.signature.replacingOccurrences(of: ",GM-R15", with: "")
        #expect(older != RuleCatalog.signature)
        try temporary.store.database.execute("UPDATE audit_head SET catalog = '\(older)'")
        let report = try Verifier(store: temporary.store).run()
        #expect(report.passed, "\(report.problems)")
        try temporary.store.database.execute("UPDATE audit_head SET catalog = '1:GM-R01,GM-R02'")
        #expect(try Verifier(store: temporary.store).run().problems.contains { $0.contains("the audit head differs") })
    }
}
