import Testing
@testable import GmemStore

/// EVENTS.md §4a: how upstream-2026 judges what rfc-2025 judges differently, event by event,
/// and the findings that follow the danger (POLICIES.md GM-R02, R05, R07, R09).
@Suite struct KernelProfileTests {
    static func page(_ engine: Engine, _ page: UInt64) -> PageState { OutcomeTests.page(engine, page) }
    static func file(_ offset: UInt64, _ pages: UInt64) -> MemoryRange { .file(gmem: "g", offset: offset * 4096, size: pages * 4096) }

    // MARK: Point 1: conversion to private

    @Test("upstream-2026: converting an all-private range to private changes nothing but the pending request")
    func allPrivateToPrivate() {
        var engine = OutcomeTests.pinnedTD(kernel: .upstream2026)
        engine.apply(Event(.convertRequest(vm: "td", gpa: 0x10_0000, size: 4 * 4096, to: .private, implicit: false)))
        let verdict = engine.apply(Event(.convert(Self.file(0, 4), to: .private)))
        #expect(verdict.expected == "ok")
        #expect(verdict.blocked.isEmpty)
        #expect(engine.state.vms["td"]?.life == .alive)
        let page = Self.page(engine, 1)
        #expect(page.mapped && page.accepted && page.pins.td == 1 && !page.quarantined && page.requested == .none)
        // rfc-2025 applies its zap rule: EIO, bugged, quarantined.
        var rfc = OutcomeTests.pinnedTD(kernel: .rfc2025)
        #expect(rfc.apply(Event(.convert(Self.file(0, 4), to: .private))).expected == "EIO")
        #expect(rfc.state.vms["td"]?.life == .bugged)
    }

    @Test("upstream-2026: converting an all-shared range to private zaps only shared mappings and never fails")
    func allSharedToPrivate() {
        var engine = OutcomeTests.pinnedTD(flags: ["mmap", "init_shared"], kernel: .upstream2026)
        // Pages 0-3 are shared, mapped, accepted and td-pinned (accepted in a TDX Connect VM).
        let verdict = engine.apply(Event(.convert(Self.file(0, 4), to: .private)))
        #expect(verdict.expected == "ok")
        #expect(engine.state.vms["td"]?.life == .alive)
        let page = Self.page(engine, 0)
        #expect(page.shareability == .private && !page.mapped && !page.accepted && !page.quarantined)
        var rfc = OutcomeTests.pinnedTD(flags: ["mmap", "init_shared"], kernel: .rfc2025)
        #expect(rfc.apply(Event(.convert(Self.file(0, 4), to: .private))).expected == "EIO")
    }

    @Test("upstream-2026: a mixed range loses every mapping; the TD-held pages' removal fails: ok, VM bugged, those pages quarantined")
    func mixedToPrivate() {
        var engine = OutcomeTests.pinnedTD(kernel: .upstream2026)
        engine.apply(Event(.convert(Self.file(8, 2), to: .shared)))  // pages 8-9 shared, unmapped
        let verdict = engine.apply(Event(.convert(Self.file(2, 8), to: .private)))
        #expect(verdict.expected == "ok")
        #expect(verdict.blocked.map(\.pages) == [2..<4])
        #expect(engine.state.vms["td"]?.life == .bugged)
        for number in UInt64(2)..<10 {
            let page = Self.page(engine, number)
            #expect(page.shareability == .private && !page.mapped && !page.accepted, "page \(number)")
            #expect(page.quarantined == (number < 4), "page \(number)")
        }
        #expect(Self.page(engine, 1).mapped && Self.page(engine, 1).accepted)
    }

    // MARK: Point 2: a failed S-EPT removal

    @Test("upstream-2026: convert to shared of TD-held pages: ok, KVM's mapping dropped, quarantined until vm_destroy")
    func toSharedQuarantinesUntilTeardown() {
        var engine = OutcomeTests.pinnedTD(kernel: .upstream2026)
        let verdict = engine.apply(Event(.convert(Self.file(2, 4), to: .shared)))
        #expect(verdict.expected == "ok")
        #expect(engine.state.vms["td"]?.life == .bugged)
        let page = Self.page(engine, 2)
        #expect(page.shareability == .shared && !page.mapped && page.quarantined && page.pins.td == 1)
        #expect(!Self.page(engine, 4).quarantined && Self.page(engine, 4).shareability == .shared)
        // A later zap (KVM's own, still run on the bugged VM) does not end it.
        #expect(engine.apply(Event(.zap(Self.file(0, 16), reason: "host"))).expected == "EIO")
        #expect(Self.page(engine, 2).quarantined)
        #expect(engine.apply(Event(.vmDestroy(vm: "td"))).expected == "ok")
        #expect(!Self.page(engine, 2).quarantined)
    }

    @Test("upstream-2026: zap of a TD-held page is EIO; punch_hole and unbind answer ok; all go on")
    func zapPunchUnbind() {
        var zap = OutcomeTests.pinnedTD(kernel: .upstream2026)
        #expect(zap.apply(Event(.zap(Self.file(0, 2), reason: "host"))).expected == "EIO")
        #expect(zap.state.vms["td"]?.life == .bugged)
        #expect(!Self.page(zap, 0).mapped && !Self.page(zap, 0).accepted && Self.page(zap, 0).quarantined)

        var punch = OutcomeTests.pinnedTD(kernel: .upstream2026)
        #expect(punch.apply(Event(.punchHole(Self.file(0, 2)))).expected == "ok")
        let freed = Self.page(punch, 0)
        #expect(!freed.populated && !freed.mapped && freed.quarantined && freed.pins.td == 1)
        // The folio went back to the host, but the TDX module still maps the frame.
        #expect(punch.state.frames[0x5000] == FrameOwner(file: 0, pageDelta: -0x5000))
        punch.apply(Event(.vmDestroy(vm: "td")))
        #expect(punch.state.frames[0x5000] == nil)

        var unbind = OutcomeTests.pinnedTD(kernel: .upstream2026)
        #expect(unbind.apply(Event(.unbind(vm: "td", slot: 1))).expected == "ok")
        #expect(unbind.state.vms["td"]?.bindings.isEmpty == true && Self.page(unbind, 3).quarantined && !Self.page(unbind, 3).mapped)
    }

    @Test("upstream-2026: an observed EIO on convert is applied as rfc-2025 applies it; on a zap it is a failed removal")
    func observedEIO() {
        var engine = OutcomeTests.pinnedTD(kernel: .upstream2026)
        let verdict = engine.apply(Event(.convert(Self.file(2, 4), to: .shared), result: "EIO"))
        #expect(verdict.expected == "ok" && verdict.diverged)
        #expect(engine.state.vms["td"]?.life == .bugged)
        #expect(Self.page(engine, 2).quarantined && Self.page(engine, 2).mapped && Self.page(engine, 2).shareability == .private)
        #expect(Self.page(engine, 4).shareability == .private)
    }

    // MARK: Point 3: a bugged VM

    @Test("upstream-2026 on a bugged VM: VM ioctls are refused without effect; guest_memfd's own operations run")
    func buggedVM() {
        var engine = OutcomeTests.pinnedTD(kernel: .upstream2026)
        engine.apply(Event(.vmBugged(vm: "td", reason: nil)))
        for op: Operation in [
            .map(Self.file(8, 1)), .accept(Self.file(8, 1)), .pin(Self.file(8, 1), holder: .td),
            .unbind(vm: "td", slot: 1), .convertRequest(vm: "td", gpa: 0x10_0000, size: 4096, to: .shared, implicit: false),
        ] {
            #expect(engine.evaluate(Event(op)).expected == "EIO", "\(op.name)")
        }
        #expect(engine.evaluate(Event(.convert(Self.file(8, 1), to: .shared), via: .vm)).expected == "EIO")
        #expect(engine.evaluate(Event(.convert(Self.file(8, 1), to: .shared))).expected == "ok")
        #expect(engine.evaluate(Event(.pin(Self.file(8, 1), holder: .iommu))).expected == "ok")
        #expect(engine.evaluate(Event(.zap(Self.file(8, 1), reason: "host"))).expected == "ok")
        // A refused unbind keeps its binding (rfc-2025 drops it).
        engine.apply(Event(.unbind(vm: "td", slot: 1)))
        #expect(engine.state.vms["td"]?.bindings[1] != nil)
        var rfc = OutcomeTests.pinnedTD(kernel: .rfc2025)
        rfc.apply(Event(.vmBugged(vm: "td", reason: nil)))
        #expect(rfc.evaluate(Event(.convert(Self.file(8, 1), to: .shared))).expected == "EIO")
        #expect(rfc.evaluate(Event(.zap(Self.file(8, 1), reason: "host"))).expected == "EIO")
    }

    // MARK: Profiles in the log

    @Test("a vm_create's kernel decodes, is written canonically, and a wrong one is a decode error; so is via")
    func decoding() throws {
        let line = #"{"op":"vm_create","vm":"td","kernel":"rfc-2025"}"#
        let event = try Event(jsonLine: line)
        #expect(event.kernel == .rfc2025)
        #expect(event.canonicalJSON.contains(#""kernel":"rfc-2025""#))
        #expect(try Event(jsonLine: event.canonicalJSON) == event)
        #expect(throws: EventDecodingError.self) { try Event(jsonLine: #"{"op":"vm_create","vm":"td","kernel":"linux-7"}"#) }
        let convert = try Event(jsonLine: #"{"op":"convert","gmem":"g","offset":0,"size":4096,"to":"shared","via":"vm"}"#)
        #expect(convert.via == .vm)
        #expect(try Event(jsonLine: convert.canonicalJSON) == convert)
        #expect(throws: EventDecodingError.self) { try Event(jsonLine: #"{"op":"convert","gmem":"g","offset":0,"size":4096,"to":"shared","via":"fd"}"#) }
        // On another op the field is not the vocabulary's: kept as given.
        let map = try Event(jsonLine: #"{"op":"map","gmem":"g","offset":0,"size":4096,"kernel":"x"}"#)
        #expect(map.kernel == nil && map.extra.map(\.key) == ["kernel"])
    }

    @Test("ingest writes the profile into each vm_create that names none; replay and what-if follow the log")
    func ingestRecordsTheProfile() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        let log = """
            {"op":"vm_create","vm":"td","tdx_connect":true}
            {"op":"vm_create","vm":"old","kernel":"upstream-2026"}
            {"op":"gmem_create","vm":"td","gmem":"g","size":"0x4000"}
            {"op":"populate","gmem":"g","offset":"0x0","size":"0x4000","pfn":"0x100"}
            {"op":"map","gmem":"g","offset":"0x0","size":"0x4000"}
            {"op":"accept","gmem":"g","offset":"0x0","size":"0x4000"}
            {"op":"punch_hole","gmem":"g","offset":"0x0","size":"0x1000"}
            {"op":"reuse","pfn":"0x100","npages":1}
            """
        let reader = LineReader(name: "k.jsonl", contents: Array(log.utf8))
        _ = try store.ingest(source: "k.jsonl", format: "jsonl") { writer in
            var ingest = JSONLIngest()
            ingest.kernel = .rfc2025
            try ingest.read(reader, into: writer)
            return nil
        }
        let stored = try storedEvents(store)
        #expect(try stored[0].decoded().kernel == .rfc2025)
        #expect(try stored[1].decoded().kernel == .upstream2026)
        let head = try store.headLink().seq
        let recorded = try store.engine(at: head).state
        #expect(recorded.vms["td"]?.kernel == .rfc2025)
        // rfc-2025: the punch hole fails (EIO), nothing freed, the reuse meets a mapped page.
        #expect(recorded.file("g")!.pages[0]!.populated && recorded.file("g")!.pages[0]!.quarantined)
        // What if the kernel were upstream-2026: freed, quarantined, the frame still the TD's.
        let whatIf = try store.engine(at: head, judgingAs: .upstream2026).state
        #expect(!whatIf.file("g")!.pages[0]!.populated && whatIf.file("g")!.pages[0]!.quarantined)
        let findings = try store.findings(judgingAs: .upstream2026, in: 1...head)
        #expect(findings.filter { $0.rule == "GM-R05" }.map(\.seq) == [8])
        #expect(findings.allSatisfy { $0.kernel == .upstream2026 })
        // Nothing was stored by the what-if.
        #expect(try store.database.scalarInt("SELECT count(*) FROM finding") == 0)
        #expect(StateReport.runs(of: recorded).allSatisfy { $0.kernel == .rfc2025 })
    }

    @Test("history says which profile judged each VM, in its text, its JSON and its runs")
    func historyNamesTheProfile() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        let log = """
            {"op":"vm_create","vm":"td","kernel":"rfc-2025"}
            {"op":"gmem_create","vm":"td","gmem":"g","size":"0x2000"}
            {"op":"populate","gmem":"g","offset":"0x0","size":"0x2000","pfn":"0x100"}
            {"op":"vm_destroy","vm":"td"}
            {"op":"gmem_close","gmem":"g"}
            {"op":"vm_create","vm":"td","kernel":"upstream-2026"}
            {"op":"gmem_create","vm":"td","gmem":"g","size":"0x2000"}
            {"op":"populate","gmem":"g","offset":"0x0","size":"0x2000","pfn":"0x200"}
            """
        let reader = LineReader(name: "h.jsonl", contents: Array(log.utf8))
        _ = try store.ingest(source: "h.jsonl", format: "jsonl") { writer in
            let ingest = JSONLIngest()
            try ingest.read(reader, into: writer)
            return nil
        }
        let entries = try History(store: store).entries(for: .file(gmem: "g", offset: 0, size: 0x1000))
        let populates = entries.filter { $0.event.op.name == "populate" }
        #expect(populates.map(\.verdict.kernel) == [.rfc2025, .upstream2026])
        #expect(populates.map { $0.after.map(\.kernel) } == [[.rfc2025], [.upstream2026]])
        let text = HistoryFormat.text(entries)
        let named = text.split(separator: "\n").filter { $0.hasPrefix("kernel ") }
        #expect(named == ["kernel rfc-2025 judges td", "kernel upstream-2026 judges td"])
        let json = HistoryFormat.json(populates)
        #expect(json.contains(#""kernel":"rfc-2025","before""#) && json.contains(#""kernel":"upstream-2026","before""#))
        #expect(!json.contains(#""kernel":"upstream-2026","pfn":256"#))
    }

    // MARK: Findings that follow the danger

    static let upstreamTD = AuditRuleTests.pinnedTD.replacingOccurrences(of: "rfc-2025", with: "upstream-2026")

    @Test func r05FiresOnReuseOfAPunchedQuarantinedFrameUntilTeardown() throws {
        let findings = try auditLog(Self.upstreamTD + """
            {"op":"punch_hole","gmem":"g","offset":"0x0","size":"0x1000"}
            {"op":"reuse","pfn":"0x1000","npages":1,"owner":"other"}
            {"op":"vm_destroy","vm":"td"}
            {"op":"reuse","pfn":"0x1000","npages":1,"owner":"other"}
            """)
        let reuses = AuditRuleTests.only("GM-R05", findings)
        #expect(reuses.map(\.seq) == [8])
        #expect(reuses.first?.ranges == [fileRange("g", 0, 0x1000)])
        #expect(reuses.first?.related == [6, 7])  // the pin and the quarantining punch; the map no longer holds
        #expect(AuditRuleTests.only("GM-R02", findings).map(\.seq) == [7])
        // rfc-2025: the punch hole failed and freed nothing; the page stays mapped, td-pinned
        // and quarantined, and destroy leaves it quarantined: both reuses are dangerous.
        let rfc = try auditLog(AuditRuleTests.pinnedTD + """
            {"op":"punch_hole","gmem":"g","offset":"0x0","size":"0x1000"}
            {"op":"reuse","pfn":"0x1000","npages":1,"owner":"other"}
            {"op":"vm_destroy","vm":"td"}
            {"op":"reuse","pfn":"0x1000","npages":1,"owner":"other"}
            """)
        #expect(AuditRuleTests.only("GM-R05", rfc).map(\.seq) == [8, 10])
    }

    @Test func r07FiresOnHostAccessToAQuarantinedSharedPage() throws {
        let log = Self.upstreamTD.replacingOccurrences(of: #""size":"0x10000"}"#, with: #""size":"0x10000","flags":["mmap"]}"#) + """
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x2000","to":"shared"}
            {"op":"host_access","gmem":"g","offset":"0x0","size":"0x2000","result":"ok"}
            {"op":"host_access","gmem":"g","offset":"0x8000","size":"0x1000"}
            """
        let findings = try auditLog(log)
        let accesses = AuditRuleTests.only("GM-R07", findings)
        #expect(accesses.map(\.seq) == [8, 9])
        #expect(accesses.first?.severity == .critical)
        #expect(accesses.first?.ranges == [fileRange("g", 0, 0x2000)])
        #expect(accesses.allSatisfy { $0.kernel == .upstream2026 })
    }

    @Test func r09FollowsTheProfile() throws {
        let afterBug = """
            {"op":"vm_bugged","vm":"td"}
            {"op":"convert","gmem":"g","offset":"0x8000","size":"0x1000","to":"shared","result":"ok"}
            {"op":"convert","gmem":"g","offset":"0x9000","size":"0x1000","to":"shared","via":"vm","result":"ok"}
            {"op":"pin","gmem":"g","offset":"0x9000","size":"0x1000","holder":"iommu","result":"ok"}
            """
        #expect(AuditRuleTests.only("GM-R09", try auditLog(Self.upstreamTD + afterBug)).map(\.seq) == [9])
        #expect(AuditRuleTests.only("GM-R09", try auditLog(AuditRuleTests.pinnedTD + afterBug)).map(\.seq) == [8, 9, 10])
    }

    @Test func r02FiresOnAMixedConversionToPrivateUnderUpstreamOnly() throws {
        let findings = try auditLog(Self.upstreamTD + """
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x4000","to":"private"}
            {"op":"convert","gmem":"g","offset":"0x8000","size":"0x1000","to":"shared"}
            {"op":"convert","gmem":"g","offset":"0x4000","size":"0x8000","to":"private"}
            """)
        let zaps = AuditRuleTests.only("GM-R02", findings)
        // seq 7: all private, returns early; seq 8: the to-shared removal fails; seq 9: mixed.
        #expect(zaps.map(\.seq) == [8, 9])
        #expect(zaps.last?.ranges == [fileRange("g", 0x4000, 0x4000), fileRange("g", 0x9000, 0x3000)])
    }
}

extension KernelProfileTests {
    @Test func r14FiresOnReuseAfterACloseLeftTDHeldPagesQuarantinedUntilTeardown() throws {
        let findings = try auditLog(Self.upstreamTD + """
            {"op":"gmem_close","gmem":"g"}
            {"op":"reuse","pfn":"0x1002","npages":1,"owner":"other"}
            {"op":"vm_destroy","vm":"td"}
            {"op":"reuse","pfn":"0x1002","npages":1,"owner":"other"}
            """)
        // The close's invalidation fails on every TD-held page (GM-R02), which stay quarantined
        // after the file is gone: reusing one is GM-R05 and GM-R14 until the VM's teardown.
        #expect(AuditRuleTests.only("GM-R02", findings).map(\.seq) == [7])
        // After the teardown the frame is no longer quarantined, but the TD's pin on it was never
        // released (GM-R08 at the close), so its reuse is still GM-R05; GM-R14 is about quarantine.
        #expect(AuditRuleTests.only("GM-R05", findings).map(\.seq) == [8, 10])
        #expect(AuditRuleTests.only("GM-R08", findings).map(\.seq) == [7])
        let exits = AuditRuleTests.only("GM-R14", findings)
        #expect(exits.map(\.seq) == [8])
        #expect(exits.first?.ranges == [fileRange("g", 0x2000, 0x1000)])
        #expect(exits.first?.related == [7])
    }
}
