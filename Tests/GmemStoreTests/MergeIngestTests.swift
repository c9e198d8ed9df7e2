import Foundation
import GmemStore
import Testing

/// `ingest --merge`: several inputs as one batch ordered by timestamp, stable within each input,
/// with trace lines placed against the state the events before them made.
@Suite struct MergeIngestTests {
    /// A tracefs line at `seconds` (six decimals, as the kernel prints it).
    static func trace(_ seconds: String, _ event: String, _ body: String) -> String {
        " gmem-kvm-captur-5820    [000] ...1.   \(seconds): \(event): \(body)"
    }

    static func setSpte(_ seconds: String, gfn: String) -> String {
        trace(seconds, "kvm_mmu_set_spte", "gfn \(gfn) spte 1226e0e67 (rwxu) level 1 at 1226c2000")
    }

    /// vm1 with g1 (64 pages) bound at gpa 0x100000000, hva 0x7f0000000000.
    static let setup = [
        #"{"op": "vm_create", "vm": "vm1", "type": "default", "ts": 1000000000}"#,
        #"{"op": "gmem_create", "vm": "vm1", "gmem": "g1", "size": 262144, "flags": ["mmap", "init_shared"]}"#,
        #"{"op": "bind", "vm": "vm1", "gmem": "g1", "slot": 1, "gpa": 4294967296, "size": 262144, "offset": 0, "hva": 139637976727552, "ts": 1100000000}"#,
    ]

    func ops(_ store: Store) throws -> [String] {
        var names: [String] = []
        try store.forEachEvent(in: 1...Int64.max) { stored in
            let event = try stored.decoded()
            switch event.op {
            case .context(let tracepoint): names.append("context:\(tracepoint)")
            default: names.append(event.op.name)
            }
            return true
        }
        return names
    }

    func state(_ store: Store) throws -> GmemState {
        try store.engine(at: store.headLink().seq).state
    }

    @Test func eventsInterleaveByTimeAndKeepTheirOrderWithinAnInput() throws {
        let jsonl = try TraceFixtures.file("vmm.jsonl", Self.setup + [
            #"{"op": "punch_hole", "gmem": "g1", "offset": 0, "size": 4096, "ts": 3000000000}"#,
            #"{"op": "host_access", "gmem": "g1", "offset": 8192, "size": 4096}"#,
        ])
        let trace = try TraceFixtures.file("kernel.trace", [
            "# tracer: nop",
            Self.setSpte("2.000000", gfn: "100000"),
            Self.trace("2.000000", "kvm_mmu_spte_requested", "gfn 100001 pfn 1226e1 level 1"),
            Self.setSpte("2.000000", gfn: "100001"),
            // Same time as the punch_hole: the input named first goes first.
            Self.setSpte("3.000000", gfn: "100002"),
            Self.trace("3.500000", "kvm_fpu", "load"),
        ])
        let store = try TraceFixtures.store()
        let summary = try MergeIngest().ingest([(jsonl, nil), (trace, nil)], into: store)
        #expect(summary.batch.added == 9)
        #expect(summary.inputs[1].skipped.counts == ["kvm_fpu": 1])
        #expect(try ops(store) == [
            "vm_create", "gmem_create", "bind", "map", "context:kvm_mmu_spte_requested", "map", "punch_hole", "host_access", "map",
        ])
        #expect(TraceFixtures.mappedGFNs(try state(store), gmem: "g1", firstGFN: 0x100000) == [0x100001, 0x100002])
    }

    @Test func anEventWithoutTimeFollowsItsPredecessor() throws {
        // The trace's first line has no predecessor: it goes first. The JSONL's untimed
        // host_access follows its punch_hole at 3 s, before the trace's line at 3.5 s.
        let jsonl = try TraceFixtures.file("vmm.jsonl", Self.setup + [
            #"{"op": "punch_hole", "gmem": "g1", "offset": 0, "size": 4096, "ts": 3000000000}"#,
            #"{"op": "host_access", "gmem": "g1", "offset": 8192, "size": 4096}"#,
        ])
        let qemu = try TraceFixtures.file("qemu.log", [
            "kvm_memory_fault start 0x100004000 size 0x1000 flags 0x8",
        ])
        let trace = try TraceFixtures.file("kernel.trace", [Self.setSpte("3.500000", gfn: "100002")])
        let store = try TraceFixtures.store()
        _ = try MergeIngest().ingest([(jsonl, .jsonl), (qemu, .qemu), (trace, .ftrace)], into: store)
        #expect(try ops(store) == ["convert_request", "vm_create", "gmem_create", "bind", "punch_hole", "host_access", "map"])
    }

    @Test func severalLiveVMsLeaveATraceLineUnresolvedUnlessVMIsGiven() throws {
        let jsonl = try TraceFixtures.file("vmm.jsonl", Self.setup + [
            #"{"op": "vm_create", "vm": "vm2", "type": "default", "ts": 1200000000}"#,
        ])
        let trace = try TraceFixtures.file("kernel.trace", [Self.setSpte("2.000000", gfn: "100003")])
        let store = try TraceFixtures.store()
        let summary = try MergeIngest().ingest([(jsonl, nil), (trace, nil)], into: store)
        #expect(summary.unresolvedVM == 1)
        let head = try store.headLink().seq
        var last: Event?
        try store.forEachEvent(in: head...head) { last = try $0.decoded(); return true }
        #expect(last?.op == .map(.guest(vm: "?", gpa: 0x1_0000_3000, size: 4096)))
        // The line is kept in the stored input, not in the event's body.
        #expect(last?.source?.text == nil)
        #expect(try store.originalLine(of: head)?.text == Self.setSpte("2.000000", gfn: "100003"))
        #expect(last?.note?.contains("--vm") == true)
        #expect(try store.engine(at: head).evaluate(last!).unresolvedReason != nil)

        let named = try TraceFixtures.store()
        let resolved = try MergeIngest(vm: "vm1").ingest([(jsonl, nil), (trace, nil)], into: named)
        #expect(resolved.unresolvedVM == 0)
        #expect(TraceFixtures.mappedGFNs(try state(named), gmem: "g1", firstGFN: 0x100000) == [0x100003])
    }

    @Test func ordinaryMemoryIsContextNotAnUnresolvedMap() throws {
        let jsonl = try TraceFixtures.file("vmm.jsonl", Self.setup)
        let trace = try TraceFixtures.file("kernel.trace", [Self.setSpte("2.000000", gfn: "10")])
        let store = try TraceFixtures.store()
        _ = try MergeIngest().ingest([(jsonl, nil), (trace, nil)], into: store)
        #expect(try ops(store).last == "context:kvm_mmu_set_spte")
    }

    @Test func unmapHVARangeZapsTheBoundPagesItCovers() throws {
        let jsonl = try TraceFixtures.file("vmm.jsonl", Self.setup)
        let trace = try TraceFixtures.file("kernel.trace", [
            Self.setSpte("2.000000", gfn: "100000"),
            Self.setSpte("2.000001", gfn: "100001"),
            Self.setSpte("2.000002", gfn: "100002"),
            // hva 0x7f0000000000 is gmem offset 0: this covers pages 1 and (partly) 2.
            Self.trace("2.100000", "kvm_unmap_hva_range", "mmu notifier unmap range: 0x007f0000001000 -- 0x007f0000002800"),
            // Outside every binding: ordinary host memory.
            Self.trace("2.200000", "kvm_unmap_hva_range", "mmu notifier unmap range: 0x007f1000000000 -- 0x007f1000003000"),
        ])
        let store = try TraceFixtures.store()
        _ = try MergeIngest().ingest([(jsonl, nil), (trace, nil)], into: store)
        let events = try decodedEvents(store)
        #expect(events.contains { $0.op == .zap(.guest(vm: "vm1", gpa: 0x1_0000_1000, size: 0x2000), reason: "host") })
        #expect(events.last?.op == .context(tracepoint: "kvm_unmap_hva_range"))
        #expect(TraceFixtures.mappedGFNs(try state(store), gmem: "g1", firstGFN: 0x100000) == [0x100000])
    }

    @Test func zapAllFastZapsEveryMappedRunOfTheVM() throws {
        let jsonl = try TraceFixtures.file("vmm.jsonl", Self.setup)
        let trace = try TraceFixtures.file("kernel.trace", [
            Self.setSpte("2.000000", gfn: "100000"),
            Self.setSpte("2.000001", gfn: "100005"),
            Self.trace("2.100000", "kvm_mmu_zap_all_fast", "kvm-mmu-valid-gen 0 used_pages 6"),
            Self.trace("2.200000", "kvm_mmu_zap_all_fast", "kvm-mmu-valid-gen 1 used_pages 0"),
        ])
        let store = try TraceFixtures.store()
        _ = try MergeIngest().ingest([(jsonl, nil), (trace, nil)], into: store)
        let events = try decodedEvents(store)
        #expect(events.suffix(3).map(\.op) == [
            .zap(.file(gmem: "g1", offset: 0, size: 4096), reason: "teardown"),
            .zap(.file(gmem: "g1", offset: 0x5000, size: 4096), reason: "teardown"),
            .context(tracepoint: "kvm_mmu_zap_all_fast"),
        ])
        #expect(TraceFixtures.mappedGFNs(try state(store), gmem: "g1", firstGFN: 0x100000) == [])
    }

    @Test func iommuMapsPinTheGmemPagesTheirFramesBackAndUnmapsRelease() throws {
        let jsonl = try TraceFixtures.file("vmm.jsonl", Self.setup + [
            #"{"op": "populate", "gmem": "g1", "offset": 16384, "size": 8192, "pfn": "0x123400", "ts": 1500000000}"#,
        ])
        let trace = try TraceFixtures.file("kernel.trace", [
            Self.trace("2.000000", "map", "IOMMU: iova=0x00000000fee00000 - 0x00000000fee02000 paddr=0x0000000123400000 size=8192"),
            Self.trace("2.000001", "map", "IOMMU: iova=0x00000000fef00000 - 0x00000000fef01000 paddr=0x0000000999900000 size=4096"),
        ])
        let unmap = try TraceFixtures.file("kernel2.trace", [
            Self.trace("3.000000", "unmap", "IOMMU: iova=0x00000000fee01000 - 0x00000000fee02000 size=4096 unmapped_size=4096"),
        ])
        let store = try TraceFixtures.store()
        _ = try MergeIngest().ingest([(jsonl, nil), (trace, nil), (unmap, nil)], into: store)
        let events = try decodedEvents(store)
        #expect(events.contains { $0.op == .pin(.file(gmem: "g1", offset: 0x4000, size: 0x2000), holder: .iommu) })
        #expect(events.contains { $0.op == .context(tracepoint: "map") })
        #expect(events.last?.op == .release(.file(gmem: "g1", offset: 0x5000, size: 0x1000), holder: .iommu))
        let file = try state(store).file("g1")!
        #expect(file.pages[4]?.pins.iommu == 1)
        #expect(file.pages[5]?.pins.iommu == 0)
    }

    @Test func aQemuLogBindsAndConvertsOnWallClockTime() throws {
        let jsonl = try TraceFixtures.file("vmm.jsonl", [
            #"{"op": "vm_create", "vm": "td1", "type": "tdx", "ts": "2024-07-18T11:12:48Z"}"#,
            #"{"op": "gmem_create", "vm": "td1", "gmem": "g1", "size": 262144, "ts": "2024-07-18T11:12:48.000001Z"}"#,
            #"{"op": "vm_destroy", "vm": "td1", "ts": "2024-07-18T11:12:50Z"}"#,
        ])
        // 1721301168 = 2024-07-18T11:12:48Z.
        let qemu = try TraceFixtures.file("qemu.log", [
            "4242@1721301168.100000:kvm_set_user_memory AddrSpace#0 Slot#1 flags=0x4 gpa=0x100000000 size=0x40000 ua=0x7f0123400000 guest_memfd=12 guest_memfd_offset=0x0 ret=0",
            "4242@1721301168.200000:kvm_memory_fault start 0x100002000 size 0x2000 flags 0x0",
            "4242@1721301168.300000:kvm_convert_memory start 0x100002000 size 0x2000 private_to_shared",
            "4242@1721301169.000000:kvm_vcpu_ioctl cpu_index 0, type 0xae80, arg (nil)",
        ])
        let store = try TraceFixtures.store()
        let summary = try MergeIngest().ingest([(jsonl, nil), (qemu, nil)], into: store)
        #expect(summary.inputs[1].format == .qemu)
        #expect(summary.inputs[1].skipped.counts == ["kvm_vcpu_ioctl": 1])
        #expect(try ops(store) == ["vm_create", "gmem_create", "bind", "convert_request", "convert", "vm_destroy"])
        let events = try decodedEvents(store)
        #expect(events[2].op == .bind(vm: "td1", gmem: "g1", slot: 1, gpa: 0x1_0000_0000, size: 0x40000, offset: 0, hva: 0x7f01_2340_0000))
        #expect(events[2].result == "ok")
        let file = try state(store).file("g1")!
        #expect(file.pages[2]?.shareability == .shared)
        #expect(file.pages[1]?.shareability == .private)
    }

    @Test func anInputEndingInsideALineCountsItAsSkipped() throws {
        let jsonl = try TraceFixtures.file("vmm.jsonl", Self.setup)
        let path = try TraceFixtures.temporaryDirectory().appendingPathComponent("cut.trace").path
        let text = Self.setSpte("2.000000", gfn: "100000") + "\n" + Self.setSpte("2.000001", gfn: "100001").dropLast(12)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let store = try TraceFixtures.store()
        let summary = try MergeIngest().ingest([(jsonl, nil), (path, nil)], into: store)
        #expect(summary.inputs[1].skipped.counts == ["(unterminated last line)": 1])
        #expect(TraceFixtures.mappedGFNs(try state(store), gmem: "g1", firstGFN: 0x100000) == [0x100000])
    }

    @Test func aJSONLDecodeErrorInAMergeRejectsTheWholeBatch() throws {
        let jsonl = try TraceFixtures.file("vmm.jsonl", Self.setup + [#"{"op": "warp", "ts": 5}"#])
        let trace = try TraceFixtures.file("kernel.trace", [Self.setSpte("2.000000", gfn: "100000")])
        let store = try TraceFixtures.store()
        #expect(throws: StoreError.self) { try MergeIngest().ingest([(jsonl, nil), (trace, nil)], into: store) }
        #expect(try store.headLink().seq == 0)
        let quarantined = try MergeIngest(quarantine: true).ingest([(jsonl, nil), (trace, nil)], into: store)
        #expect(quarantined.batch.rejected == 1)
        #expect(quarantined.batch.added == 4)
    }

    @Test func formatsAreDetectedFromTheFirstLine() throws {
        #expect(try InputFormat.detect(path: TraceFixtures.real("punch-and-retouch.jsonl")) == .jsonl)
        #expect(try InputFormat.detect(path: TraceFixtures.real("punch-and-retouch.trace")) == .ftrace)
        #expect(try InputFormat.detect(path: TraceFixtures.real("punch-and-retouch.report.txt")) == .ftrace)
        #expect(InputFormat.detect(line: "4242@1721301168.100000:kvm_memory_fault start 0x0 size 0x1000 flags 0x8") == .qemu)
        #expect(InputFormat.detect(line: "kvm_memory_fault start 0x0 size 0x1000 flags 0x8") == .qemu)
        #expect(InputFormat.detect(line: "Hello, World!") == nil)
        let unknown = try TraceFixtures.file("what.txt", ["Hello, World!"])
        let store = try TraceFixtures.store()
        #expect(throws: StoreError.self) { try MergeIngest().ingest([(unknown, nil)], into: store) }
    }

    func decodedEvents(_ store: Store) throws -> [Event] {
        var events: [Event] = []
        try store.forEachEvent(in: 1...Int64.max) { events.append(try $0.decoded()); return true }
        return events
    }
}
