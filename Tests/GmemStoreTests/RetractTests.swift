import Foundation
import Testing
@testable import GmemStore

/// `gmem-audit retract BATCH --reason …`: a batch read wrongly (here a QEMU trace ingested with
/// the wrong `--vm`) is retracted by an event of the log; from then on every replay judges the
/// log without its events, which stay as evidence, and the corrected ingest is accepted.
@Suite struct RetractTests {
    /// vm1 (g1, not pinned) and vm2 (g2, TDX Connect, pages 0–1 mapped and pinned by the TD),
    /// both bound at gpa 0x100000000.
    static let vmm = [
        #"{"op": "vm_create", "vm": "vm1", "type": "tdx", "ts": 1000000000}"#,
        #"{"op": "gmem_create", "vm": "vm1", "gmem": "g1", "size": 262144, "flags": ["mmap"]}"#,
        #"{"op": "bind", "vm": "vm1", "gmem": "g1", "slot": 1, "gpa": 4294967296, "size": 262144, "offset": 0, "ts": 1100000000}"#,
        #"{"op": "vm_create", "vm": "vm2", "type": "tdx", "tdx_connect": true, "ts": 1200000000}"#,
        #"{"op": "gmem_create", "vm": "vm2", "gmem": "g2", "size": 262144, "flags": ["mmap"]}"#,
        #"{"op": "bind", "vm": "vm2", "gmem": "g2", "slot": 1, "gpa": 4294967296, "size": 262144, "offset": 0, "ts": 1300000000}"#,
        #"{"op": "map", "gmem": "g2", "offset": 0, "size": 8192, "ts": 1400000000}"#,
        #"{"op": "pin", "gmem": "g2", "offset": 0, "size": 8192, "holder": "td", "ts": 1500000000}"#,
    ].joined(separator: "\n") + "\n"

    /// QEMU's conversions of vm1's memory: read as vm2's, the first converts pages the TD pinned.
    static let qemu = [
        "4242@2.000001:kvm_convert_memory start 0x100000000 size 0x2000 private_to_shared",
        "4242@2.000002:kvm_convert_memory start 0x100004000 size 0x1000 private_to_shared",
    ].joined(separator: "\n") + "\n"

    static let reason = "read with --vm vm2; the capture was of vm1"

    struct Files {
        var vmm: String
        var qemu: String
    }

    func files(_ temporary: TemporaryStore) throws -> Files {
        Files(vmm: try temporary.file("vmm.jsonl", Self.vmm), qemu: try temporary.file("qemu.log", Self.qemu))
    }

    func ingest(_ path: String, vm: String? = nil, into store: Store) throws -> Store.BatchSummary {
        try MergeIngest(vm: vm).ingest([(path, nil)], into: store).batch
    }

    /// A store with only the correct ingest: the VMM log, then the trace read as vm1's.
    func cleanStore(_ files: Files) throws -> TemporaryStore {
        let clean = try TemporaryStore()
        _ = try ingest(files.vmm, into: clean.store)
        _ = try ingest(files.qemu, vm: "vm1", into: clean.store)
        try clean.store.audit()
        return clean
    }

    /// The wrong ingest, audited, retracted, then the corrected ingest, audited. Returns the
    /// findings the audit stored before the retraction.
    func retractedStore(_ temporary: TemporaryStore, _ files: Files) throws -> [Finding] {
        let store = temporary.store
        #expect(try ingest(files.vmm, into: store).added == 8)
        let wrong = try ingest(files.qemu, vm: "vm2", into: store)
        #expect(wrong.batch == 2 && wrong.firstSeq == 9 && wrong.lastSeq == 10)
        try store.audit()
        let before = try store.findings()
        let summary = try store.retract(batch: 2, reason: Self.reason)
        #expect(summary.retraction.seq == 11 && summary.retraction.seqs == 9...10 && summary.droppedFindings)
        let right = try ingest(files.qemu, vm: "vm1", into: store)
        #expect(right.added == 2 && right.duplicateOfBatch == nil, "the corrected ingest was refused: \(right)")
        try store.audit()
        return before
    }

    /// What a finding says about the memory, without the seqs (the two logs number differently).
    func gist(_ findings: [Finding]) -> [String] {
        findings.map { "\($0.rule) \($0.severity) \($0.vm ?? "-") \($0.ranges.map { "\($0.json)" })" }
    }

    @Test func aWrongVMRetractedThenCorrectedJudgesLikeACleanStore() throws {
        let temporary = try TemporaryStore()
        let files = try files(temporary)
        let before = try retractedStore(temporary, files)
        #expect(before.contains { $0.rule == "GM-R01" && $0.vm == "vm2" }, "the wrong --vm made no finding to retract: \(gist(before))")
        let clean = try cleanStore(files)
        let store = temporary.store
        let state = try store.engine(at: store.headLink().seq).state
        let cleanState = try clean.store.engine(at: clean.store.headLink().seq).state
        #expect(StateReport.runs(of: state) == StateReport.runs(of: cleanState))
        #expect(gist(try store.findings()) == gist(try clean.store.findings()))
        #expect(!(try store.findings()).contains { $0.seq == 9 || $0.seq == 10 })
        // As of a point before the retraction, the log as it now stands: without the wrong batch.
        let atWrongHead = try store.engine(at: 10).state
        #expect(StateReport.runs(of: atWrongHead) == StateReport.runs(of: try clean.store.engine(at: 8).state))
        // A fresh process (no cached head) judges the same.
        let reopened = try temporary.open(.readOnly(immutable: false))
        #expect(StateReport.runs(of: try reopened.engine(at: 13).state) == StateReport.runs(of: cleanState))
        #expect(try reopened.findings(judgingAs: .rfc2025, in: 0...Int64.max).allSatisfy { $0.seq > 11 || $0.seq < 9 })
        let report = try Verifier(store: store).run()
        #expect(report.passed, "\(report.problems)")
    }

    @Test func historyShowsTheRetractedEventsMarkedAndTheRetraction() throws {
        let temporary = try TemporaryStore()
        _ = try retractedStore(temporary, try files(temporary))
        let entries = try History(store: temporary.store).entries(for: .file(gmem: "g2", offset: 0, size: 8192))
        #expect(entries.map(\.seq) == [6, 7, 8, 9, 11])
        let retracted = try #require(entries.first { $0.seq == 9 })
        #expect(retracted.retractedBy?.seq == 11 && retracted.retractedBy?.batch == 2 && retracted.retractedBy?.reason == Self.reason)
        #expect(retracted.before == retracted.after)
        #expect(retracted.after.allSatisfy { $0.page.shareability == .private && $0.page.pins.td == 1 })
        let record = try #require(entries.last)
        guard case .retract(2, 9, 10, _, Self.reason) = record.event.op else {
            Issue.record("the retraction is not in the history: \(record.event.op)")
            return
        }
        #expect(record.retractedBy == nil)
        let text = HistoryFormat.text(entries)
        #expect(text.contains("RETRACTED at seq 11 (batch 2): \(Self.reason)"))
        #expect(text.contains("retract batch 2 seq 9…10"))
        let json = try jsonObject(HistoryFormat.json(entries)) as! [[String: Any]]
        #expect((json[3]["retracted"] as? [String: Any])?["seq"] as? Int == 11)
        // vm1's pages: the corrected events, not marked.
        let right = try History(store: temporary.store).entries(for: .file(gmem: "g1", offset: 0, size: 8192))
        #expect(right.map(\.seq) == [3, 12] && right.allSatisfy { $0.retractedBy == nil })
        #expect(right.last?.after.allSatisfy { $0.page.shareability == .shared } == true)
    }

    @Test func verifyCatchesAnEditedOrDeletedRetraction() throws {
        let temporary = try TemporaryStore()
        _ = try retractedStore(temporary, try files(temporary))
        try temporary.store.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        #expect(try Verifier(store: temporary.store).run().passed)
        for edit in ["label", "digest", "offset", "delete"] {
            let copy = temporary.sibling("tampered-\(edit).db")
            try FileManager.default.copyItem(atPath: temporary.path, toPath: copy)
            let database = try Database(path: copy, access: .readWrite)
            try database.execute("DROP TRIGGER event_is_append_only_update; DROP TRIGGER event_is_append_only_delete")
            switch edit {
            case "label": try database.execute("UPDATE event SET label = (SELECT id FROM name WHERE text = 'vm1') WHERE seq = 11")
            case "digest": try database.execute("UPDATE event SET digest = zeroblob(32) WHERE seq = 11")
            case "offset": try database.execute("UPDATE event SET offset = 10 WHERE seq = 11")
            default: try database.execute("DELETE FROM event WHERE seq = 11")
            }
            #expect(database.changes == 1)
            let store = try Store(path: copy, access: .readOnly(immutable: false))
            let report = try Verifier(store: store).run()
            #expect(!report.passed, "an edited retraction (\(edit)) passed verify")
            #expect(report.firstBadSeq == 11 || (edit == "delete" && report.firstBadSeq != nil), "\(edit): \(report.problems)")
        }
    }

    @Test func exportReingestedKeepsTheHeadTheStateAndTheFindings() throws {
        let temporary = try TemporaryStore()
        _ = try retractedStore(temporary, try files(temporary))
        let store = temporary.store
        var text = ""
        try Exporter(store: store).write(.jsonl, seqs: 1...store.headLink().seq, to: &text)
        #expect(text.contains(#""op":"retract""#))
        let copy = try TemporaryStore()
        let summary = try GmemStoreTests.ingest(text, name: "export.jsonl", into: copy.store)
        #expect(summary.added == 13)
        #expect(try copy.store.headLink() == store.headLink())
        #expect(try copy.store.retractedEvents().retractions.map(\.seqs) == [9...10])
        #expect(try copy.store.engine(at: 13).state == store.engine(at: 13).state)
        try copy.store.audit()
        #expect(try copy.store.findings() == store.findings())
        let report = try Verifier(store: copy.store).run()
        #expect(report.passed, "\(report.problems)")
        // A retraction is bound to its log: on another log its hash does not match, and the
        // line is refused like one that does not decode, naming it.
        let other = try TemporaryStore()
        let otherLog = text.split(separator: "\n").enumerated().map { $1.replacingOccurrences(of: "\"vm1\"", with: "\"vmX\"") }
        #expect {
            try GmemStoreTests.ingest(otherLog.joined(separator: "\n"), name: "other.jsonl", into: other.store)
        } throws: { error in
            "\(error)".hasPrefix("other.jsonl:11: ") && "\(error)".contains("not this log's")
        }
        #expect(try other.store.headLink().seq == 0)
    }

    @Test func verifyStaysGreenWhenAnEarlierBatchIsRetractedAfterLaterOnes() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        store.snapshotInterval = 16
        let lines = generatedLog(events: 300, seed: 11, gmemSize: 8 << 20).split(separator: "\n")
        let parts = stride(from: 0, to: lines.count, by: 60).map { lines[$0..<min($0 + 60, lines.count)].joined(separator: "\n") }
        #expect(parts.count >= 5)
        for (index, part) in parts.enumerated() {
            _ = try GmemStoreTests.ingest(part, name: "part\(index).jsonl", into: store)
        }
        try store.audit()
        // Batch 3's events were judged with batch 2's; then 2 is retracted, then 4.
        _ = try store.retract(batch: 2, reason: "wrong kernel")
        #expect(try Verifier(store: store).run().passed)
        _ = try store.retract(batch: 4, reason: "wrong vm")
        try store.audit()
        let report = try Verifier(store: store).run()
        #expect(report.passed, "\(report.problems)")
        // The stored state equals a replay of the log without batches 2 and 4, and the findings an audit of it.
        let kept = parts.enumerated().filter { $0.offset != 1 && $0.offset != 3 }.map(\.element)
        let reference = try TemporaryStore()
        _ = try GmemStoreTests.ingest(kept.joined(separator: "\n"), name: "kept.jsonl", into: reference.store)
        try reference.store.audit()
        let head = try store.headLink().seq
        let referenceHead = try reference.store.headLink().seq
        #expect(StateReport.runs(of: try store.engine(at: head).state) == StateReport.runs(of: try reference.store.engine(at: referenceHead).state))
        #expect(gist(try store.findings()) == gist(try reference.store.findings()))
        // The grid from batch 2 on was written again: every grid seq before the last
        // retraction has a snapshot, as in a store that never retracted.
        let grid = try store.database.scalarInt("SELECT count(*) FROM snapshot WHERE seq % 16 = 0 AND seq < \(head)")
        #expect(grid == (head - 1) / 16)
        // Every snapshot left is of the log as it now stands.
        let fresh = try temporary.open(.readOnly(immutable: false))
        for seq in stride(from: Int64(1), through: head, by: 7) {
            var replayed = Engine()
            try fresh.replay(1...seq, into: &replayed)
            #expect(try fresh.engine(at: seq).state == replayed.state, "seq \(seq)")
        }
    }

    @Test func reportAndExplainSkipTheRetractedEvents() throws {
        let temporary = try TemporaryStore()
        let files = try files(temporary)
        _ = try retractedStore(temporary, files)
        let clean = try cleanStore(files)
        // The same later conversion of the TD-pinned pages in both stores.
        let convert = #"{"op": "convert", "gmem": "g2", "offset": 0, "size": 8192, "to": "shared", "ts": 3000000000}"#
        for store in [temporary.store, clean.store] {
            _ = try GmemStoreTests.ingest(convert, name: "convert.jsonl", into: store)
            try store.audit()
        }
        func trigger(_ store: Store) throws -> ExplainStep {
            let finding = try #require(try store.findings().first { $0.rule == "GM-R01" })
            let id = try #require(finding.id)
            let explanation = try #require(try Explainer(store: store).explain(id: id))
            return try #require(explanation.steps.last)
        }
        let explained = try trigger(temporary.store)
        #expect(explained.before == (try trigger(clean.store)).before)
        #expect(explained.before.allSatisfy { $0.page.shareability == .private && $0.page.pins.td == 1 })
        // The report's picture of g2 after the retracted conversion: still private, never quarantined.
        let timeline = try ReportTimeline.build(store: temporary.store, columns: 14, rows: 64)
        let lane = try #require(timeline.lanes.first { $0.gmem == "g2" })
        for column in timeline.column(of: 9)..<timeline.column(of: 14) {
            let cells = lane.blocks.filter { $0.row == 0 && $0.height >= 1 && $0.column <= column && column < $0.column + $0.width }.map(\.cell)
            #expect(cells.count == 1 && cells.allSatisfy { !$0.has(ReportTimeline.Cell.shared) && !$0.has(ReportTimeline.Cell.quarantined) }, "column \(column): \(cells)")
        }
    }

    /// A store of schema 1 (before `retract`) is migrated by the next writing command, and a
    /// retraction then works in it as in a new store.
    @Test func aSchemaOneStoreIsMigratedByTheNextWriter() throws {
        let temporary = try TemporaryStore()
        do {
            let database = try Database(path: temporary.path, access: .readWrite)
            try database.execute("PRAGMA journal_mode = WAL")
            try database.execute(Embedded.migrations[0].text)
            try database.execute("PRAGMA user_version = 1; PRAGMA application_id = \(Migrator.applicationID)")
        }
        #expect(throws: StoreError.self) { try Store(path: temporary.path, access: .readOnly(immutable: false)) }
        let files = try files(temporary)
        _ = try retractedStore(temporary, files)
        #expect(try temporary.store.database.scalarInt("PRAGMA user_version") == Migrator.latestVersion)
        #expect(try Verifier(store: temporary.store).run().passed)
    }

    @Test @available(macOS 15.0, *) func aLedgerRetractsABatchItAppended() throws {
        let temporary = try TemporaryStore()
        let ledger = try GmemLedger(path: temporary.path)
        let page = MemoryRange.file(gmem: "g0", offset: 0, size: 4096)
        try ledger.append(contentsOf: [
            Event(.vmCreate(vm: "td0", type: "tdx", tdxConnect: false)),
            Event(.gmemCreate(vm: "td0", gmem: "g0", size: 1 << 20, flags: ["mmap"], folioSize: 4096)),
        ])
        let wrong = try ledger.append(contentsOf: [Event(.hostAccess(page))])
        #expect(try ledger.audit().findings.map(\.rule) == ["GM-R07"])
        let summary = try ledger.retract(batch: try #require(wrong.batch), reason: "the access was to another file")
        #expect(summary.retraction.seqs == 3...3 && summary.droppedFindings)
        #expect(try ledger.audit().findings.isEmpty)
        #expect(throws: RetractionError.self) { try ledger.retract(batch: try #require(wrong.batch), reason: "again") }
    }

    @Test func aRetractedBatchNoLongerBlocksTheSameReading() throws {
        let temporary = try TemporaryStore()
        let files = try files(temporary)
        _ = try ingest(files.vmm, into: temporary.store)
        _ = try ingest(files.qemu, vm: "vm1", into: temporary.store)
        #expect(try ingest(files.qemu, vm: "vm1", into: temporary.store).duplicateOfBatch == 2)
        _ = try temporary.store.retract(batch: 2, reason: "retracted by mistake")
        let again = try ingest(files.qemu, vm: "vm1", into: temporary.store)
        #expect(again.added == 2 && again.duplicateOfBatch == nil)
    }

    @Test func theCLIRetractsAndRefusesWhatCannotBeRetracted() throws {
        let temporary = try TemporaryStore()
        let files = try files(temporary)
        let db = ["--db", temporary.path]
        #expect(try runCLI(["ingest"] + db + [files.vmm]).status == 0)
        #expect(try runCLI(["ingest", "--vm", "vm2"] + db + [files.qemu]).status == 0)
        #expect(try runCLI(["ingest", "--format", "ftrace"] + db + [files.vmm]).status == 0)  // batch 3: adds nothing
        let done = try runCLI(["retract", "2", "--reason", Self.reason] + db)
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stdout.hasPrefix("batch 2 (seq 9…10) retracted at seq 11 (batch 4): \(Self.reason)"))
        let refusals: [(arguments: [String], status: Int32, says: String)] = [
            (["retract", "9", "--reason", "x"], 66, "no batch 9 in this store (its batches are 1…4)"),
            (["retract", "2", "--reason", "again"], 65, "seqs 9…10 (batch 2) were already retracted at seq 11"),
            (["retract", "4", "--reason", "undo"], 65, "a retraction is not retracted"),
            (["retract", "3", "--reason", "x"], 65, "batch 3 added no events"),
            (["retract", "1", "--reason", "  "], 64, "--reason must say why"),
            (["retract", "1"], 64, "--reason"),
        ]
        for refusal in refusals {
            let result = try runCLI(refusal.arguments + db)
            #expect(result.status == refusal.status, "\(refusal.arguments): \(result.stderr)")
            #expect(result.stderr.contains(refusal.says), "\(refusal.arguments): \(result.stderr)")
        }
        #expect(try runCLI(["retract", "1", "--reason", "x", "--db", temporary.sibling("none.db")]).status == 66)
        #expect(!FileManager.default.fileExists(atPath: temporary.sibling("none.db")))
        #expect(try runCLI(["ingest", "--vm", "vm1"] + db + [files.qemu]).status == 0)
        let history = try runCLI(["history", "--gmem", "g2", "--offset", "0", "--size", "8192"] + db)
        #expect(history.stdout.contains("RETRACTED at seq 11 (batch 2)"))
        #expect(try runCLI(["verify"] + db).status == 0)
        let audit = try runCLI(["audit", "--format", "jsonl"] + db)
        #expect(audit.status == 0 && !audit.stdout.contains("GM-R01"), "\(audit.stdout)")
    }
}
