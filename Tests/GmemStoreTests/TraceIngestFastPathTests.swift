import CSQLite
import Foundation
import Testing
@testable import GmemStore

/// The kernel-trace ingest's fast paths must read and store exactly what the plain paths do:
/// lines of events gmem does not take recognised from their bytes (`FtraceReader.read(bytes:)`),
/// and a context or gap line's events made and hashed on the reading thread
/// (`PrefetchedSource.Prepared`).
@Suite struct TraceIngestFastPathTests {
    /// Every line of the real captures (tracefs and `trace-cmd report`, with lost events), the
    /// lines `scripts/make-big-trace.sh` writes, and lines made to sit on each test the text
    /// reader makes before it skips a line by its event name.
    static func lines() throws -> [String] {
        var lines: [String] = []
        let real = try FileManager.default.contentsOfDirectory(atPath: TraceFixtures.real(""))
            .filter { $0.hasSuffix(".trace") || $0.hasSuffix(".report.txt") || $0 == "lines.txt" }.sorted()
        #expect(real.count >= 9)
        for name in real {
            let text = try String(contentsOfFile: TraceFixtures.real(name), encoding: .utf8)
            lines += text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
        let task = " gmem-kvm-captur-5820    [000] "
        lines += [
            task + ".....   731.001000: kvm_mmu_paging_element: pte 2027 level 4",
            task + ".....   731.001000: kvm_mmu_set_accessed_bit: gpa 6000",
            task + ".....   731.001006: kvm_emulate_insn: 0:1004a:ef (prot64)",
            task + "...1.   731.001001: kvm_mmu_spte_requested: gfn 100000 pfn 126000 level 1",
            task + ".....   731.001012: kvm_mmu_pagetable_walk: addr 101eef000 pferr 6 W|U",
            task + "...1.   731.001070: tracing_mark_write: gmem: guest touched gfn 0x100000 npages 1",
            "gmem-capture-5809:  gmem-kvm-captur-5820  [000]   731.175696: print:                tracing_mark_write: mark",
            "gmem-capture-5809:  gmem-kvm-captur-5820  [000]   731.175696: kvm_entry:     vcpu 0, rip 0xfff0",
            "CPU 0/KVM-5820 [001] .....   731.001000: kvm_entry: vcpu 0",
            "CPU:0 [LOST 12 EVENTS]", "CPU:1 [EVENTS DROPPED]", "  CPU:2 [7 EVENTS DROPPED]", "CPU:x [LOST 1 EVENTS]",
            "gmem-capture: CPU:3 [LOST 4 EVENTS]", "gmem-capture: CPU:3 not a gap", "a: CPU:b [000] 1.000001: kvm_entry: x",
            "cpus=2", "version = 7", "CPU 1 is empty", "CPU 1 is not empty [000] 1.000001: kvm_entry: x",
            "# entries-in-buffer/entries-written: 140080/250880   #P:4", "#", "", " ", "\t \t",
            "\t" + task + ".....   731.001000: kvm_entry: vcpu 0",
            task + ".....   731.001000 kvm_entry: no colon after the time",
            task + ".....   731.0010000000: kvm_entry: ten fraction digits",
            task + ".....   731.: kvm_entry: no fraction digits",
            task + ".....   731.001000: kvm entry: a space in the name",
            task + ".....   731.001000: :empty name",
            task + ".....   731.001000: kvm_entry",
            task + "731.001000: kvm_entry: no flags column",
            " task [] 1.000001: kvm_entry: no cpu digits",
            "task[000] 1.000001: kvm_entry: no space before the cpu",
            " tâsk-1 [000] ..... 1.000001: kvm_entry: not ASCII before the name",
            " task-1 [000] ..... 1.000001: kvm_entry: not ASCII after it: é",
            " task-1 [000] ..... 1.000001: kvm_entry: \u{301} a combining mark after a space",
            " task \u{301}-1 [000] ..... 1.000001: kvm_entry: a combining mark in the task",
            " task-1 [000] ..... 1.000001: kvm_entry: a body with : CPU:1 [LOST 3 EVENTS]",
            " task-1 [000] ..... 1.000001: kvm_exit: reason EPT_VIOLATION rip 0x1 info 0 0",
            " task-1 [000] ..... 1.000001: map: IOMMU: iova=0x0000000000001000 - 0x0000000000002000 paddr=0x0000000126000000 size=4096",
            " task-1 [000] ..... 1.000001: kvm_mmu_set_spte: garbled",
            " task-1 [000] ..... 1.000001: kvm_mmu_paging_element" + String(repeating: "x", count: 300) + ": long",
        ]
        return lines
    }

    func bytes(_ line: String, _ body: (UnsafeBufferPointer<UInt8>) -> TraceLineReading) -> TraceLineReading {
        var copy = Array(line.utf8)
        return copy.withUnsafeMutableBufferPointer { body(UnsafeBufferPointer($0)) }
    }

    /// Each line read from its bytes reads as the text reader reads it, and the bytes decide
    /// most of the lines a generated trace skips (so the fast path is what is tested).
    @Test func bytesReadAsTheTextReaderReads() throws {
        var decided = 0
        for line in try Self.lines() {
            let text = FtraceReader.read(line, file: "t.trace", number: 9)
            let fromBytes = bytes(line) { FtraceReader.read(bytes: $0, file: "t.trace", number: 9) }
            #expect(fromBytes == text, "\(line)")
            var copy = Array(line.utf8)
            if copy.withUnsafeMutableBufferPointer({ FtraceReader.skippedEventName(UnsafeBufferPointer($0)) }) != nil {
                decided += 1
                guard case .skipped = text else {
                    Issue.record("decided from bytes, but the text reader does not skip it: \(line)")
                    continue
                }
            }
        }
        #expect(decided > 1000)
    }

    /// The kernel trace of `scripts/make-big-trace.sh`'s shapes, with gaps, markers and lines
    /// of every kind, with its VMM log: vm1 with g1 (64 pages) bound at gfn 0x100000, hva
    /// 0x7f0000000000.
    static func trace(faults: Int) -> [String] {
        let task = " gmem-kvm-captur-5820    [000] "
        var lines: [String] = ["# tracer: nop", "# entries-in-buffer/entries-written: 10/12   #P:2"]
        var us = 2_000_000
        for fault in 0..<faults {
            func at(_ flags: String) -> String { task + flags + "   \(us / 1_000_000).\(String(format: "%06d", us % 1_000_000)): " }
            let page = (fault * 7) % 64
            let gfn = String(0x100000 + page, radix: 16)
            lines += [
                at(".....") + "kvm_mmu_pagetable_walk: addr \(String(0x1_0000_0000 + page * 4096, radix: 16)) pferr 6 W|U",
                at(".....") + "kvm_mmu_paging_element: pte 2027 level 4",
                at(".....") + "kvm_mmu_set_accessed_bit: gpa 6000",
                at("...1.") + "kvm_mmu_spte_requested: gfn \(gfn) pfn 126000 level 1",
                at("...1.") + "kvm_mmu_set_spte: gfn \(gfn) spte 126000e67 (rwxu) level 1 at 1226c2000",
                at(".....") + "kvm_emulate_insn: 0:1004a:ef (prot64)",
                at(".....") + "kvm_pio: pio_write at 0x13 size 4 count 1 val 0x\(fault % 16) ",
                at(".....") + "kvm_userspace_exit: reason KVM_EXIT_IO (2)",
            ]
            us += 3
            if fault % 16 == 15 {
                let hva = 0x7f00_0000_0000 + ((fault * 31) % 64) * 4096
                lines.append(at(".....") + "kvm_unmap_hva_range: mmu notifier unmap range: 0x\(String(hva, radix: 16)) -- 0x\(String(hva + 4096, radix: 16))")
            }
            if fault % 64 == 63 { lines.append(at("...1.") + "tracing_mark_write: gmem: guest touched gfn 0x\(gfn) npages 1") }
            if fault % 100 == 50 { lines.append("CPU:0 [LOST \(fault) EVENTS]") }
            if fault % 100 == 75 { lines.append(at(".....") + "kvm_mmu_set_spte: gfn \(gfn) cut short") }
            if fault % 100 == 90 { lines.append(at(".....") + "kvm_exit: reason EPT_VIOLATION rip 0xfff0 info 0 0 é") }
            us += 4
        }
        return lines
    }

    /// The trace and its VMM log read ahead on their own threads store what they store when
    /// read on the batch's thread (inputs in memory are never read ahead): the same events,
    /// hashes, stored inputs and chunks, page and frame index, the same lines skipped, and the
    /// same VM-less events; with and without `--vm`, and with a second VM alive for a while.
    @Test func preparedTraceEventsStoreWhatTheBatchThreadStores() throws {
        let temporary = try TemporaryStore()
        let trace = Self.trace(faults: 3000)
        #expect(trace.joined(separator: "\n").utf8.count > 2 * InputArchive.chunkSize)
        let tracePath = try temporary.file("t.trace", trace.joined(separator: "\n") + "\n")
        let setup = try temporary.file("setup.jsonl", MergeIngestTests.setup.joined(separator: "\n") + "\n")
        let second = try temporary.file(
            "second.jsonl",
            (MergeIngestTests.setup + [
                #"{"op": "vm_create", "vm": "vm2", "type": "default", "ts": 2004000000}"#,
                #"{"op": "vm_destroy", "vm": "vm2", "ts": 2008000000}"#,
            ]).joined(separator: "\n") + "\n")
        for (inputs, vm) in [([setup, tracePath], nil), ([second, tracePath], nil), ([tracePath, setup], "vm1"), ([tracePath], nil)] as [([String], String?)] {
            let ahead = try TemporaryStore()
            let sources = try inputs.map { try IngestSource(path: $0, format: nil) }
            let aheadSummary = try MergeIngest(vm: vm).ingest(sources, into: ahead.store)
            let inline = try TemporaryStore()
            let memorySources = try inputs.map {
                IngestSource(reader: LineReader(name: $0, contents: Array(try Data(contentsOf: URL(fileURLWithPath: $0)))), format: nil)
            }
            let inlineSummary = try MergeIngest(vm: vm).ingest(memorySources, into: inline.store)
            #expect(aheadSummary.batch == inlineSummary.batch)
            #expect(aheadSummary.batch.added > 15_000)
            #expect(aheadSummary.unresolvedVM == inlineSummary.unresolvedVM)
            #expect(try ahead.store.headLink() == inline.store.headLink())
            let aheadRows = try IngestPipelineTests().rows(ahead.store)
            #expect(aheadRows == (try IngestPipelineTests().rows(inline.store)))
            // Without the VMM log no binding covers an hva: `kvm_unmap_hva_range` is context.
            for op in ["gap", "context", "map"] + (inputs.count > 1 ? ["zap"] : []) {
                #expect(try ahead.store.database.scalarInt("SELECT count(*) FROM event WHERE op = \(EventRow.opCodes[op]!)") ?? 0 > 0, "\(op)")
            }
            for (one, other) in zip(aheadSummary.inputs, inlineSummary.inputs) {
                #expect(one.records == other.records && one.skipped == other.skipped && one.format == other.format)
            }
        }
    }

    /// Event rows inserted several to a statement (`EventRowBuffer`) are the rows inserted one
    /// by one: a kernel trace with its log, a JSON Lines log with rejected lines and ids, and
    /// a later batch that skips ids already stored and retracts the first batch in its middle
    /// (the retraction replays the log, the rows before it in the batch included), each batch
    /// ending part-way through a statement's rows.
    @Test func rowsInsertedSeveralToAStatementAreTheRowsInsertedOneByOne() throws {
        let temporary = try TemporaryStore()
        let pipeline = IngestPipelineTests()
        let trace = try temporary.file("t.trace", Self.trace(faults: 700).joined(separator: "\n") + "\n")
        let setup = try temporary.file("setup.jsonl", MergeIngestTests.setup.joined(separator: "\n") + "\n")
        let log = try temporary.file("log.jsonl", pipeline.log(301, bad: [100: "not json", 200: #"{"op": "map"}"#]))
        let lines = pipeline.log(700).split(separator: "\n").map(String.init)
        var stores: [(TemporaryStore, MergeIngest)] = []
        var firsts: [(seq: Int64, hash: [UInt8])] = []
        for defers in [false, true] {
            let store = try TemporaryStore()
            var ingest = MergeIngest(quarantine: true)
            ingest.defersEventRows = defers
            _ = try ingest.ingest([try IngestSource(path: setup, format: nil), try IngestSource(path: trace, format: nil)], into: store.store)
            firsts.append(try store.store.headLink())
            let log = try ingest.ingest([try IngestSource(path: log, format: nil, quarantine: true)], into: store.store)
            #expect(log.batch.added > 250 && log.batch.rejected == 2)
            stores.append((store, ingest))
        }
        #expect(firsts[0] == firsts[1])
        let retract = Event(.retract(batch: 1, firstSeq: 1, lastSeq: UInt64(firsts[0].seq), lastHash: firsts[0].hash, reason: "read with the wrong clock"))
        let later = try temporary.file("later.jsonl", (lines[250..<400] + [retract.canonicalJSON] + lines[400..<650]).joined(separator: "\n") + "\n")
        for (store, ingest) in stores {
            let summary = try ingest.ingest([try IngestSource(path: later, format: nil, quarantine: true)], into: store.store)
            #expect(summary.batch.skipped > 0 && summary.batch.added > 300)
        }
        let (plain, deferred) = (stores[0].0, stores[1].0)
        #expect(try plain.store.headLink() == deferred.store.headLink())
        #expect(try pipeline.rows(plain.store) == pipeline.rows(deferred.store))
        for table in ["snapshot", "merkle_node", "ts_grid", "name"] {
            let query = "SELECT * FROM \(table) ORDER BY 1, 2"
            func dump(_ store: Store) throws -> [String] {
                let statement = try store.database.prepare(query)
                var rows: [String] = []
                while try statement.step() {
                    rows.append((0..<sqlite3_column_count(statement.handle)).map { statement.optionalString($0) ?? "NULL" }.joined(separator: "|"))
                }
                return rows
            }
            #expect(try dump(plain.store) == dump(deferred.store), "\(table)")
        }
    }

    /// QEMU log lines read from their bytes read as the text reader reads them (so the events a
    /// QEMU log stores are those it stored before): the lines of QemuTraceReaderTests, other
    /// events QEMU logs, odd prefixes and spacing, and every prefix of each line.
    @Test func qemuBytesReadAsTheTextReaderReads() {
        let stamp = "4242@1721301168.123456:"
        let lines = [
            QemuTraceReaderTests.setMemory,
            "kvm_set_user_memory AddrSpace#1 Slot#3 flags=0x4 gpa=0x100000000 size=0x0 ua=0x7f0123400000 guest_memfd=12 guest_memfd_offset=0x0 ret=0",
            "kvm_set_user_memory AddrSpace#0 Slot#1 flags=0x4 gpa=0x100000000 size=0x40000 ua=0x7f0123400000 guest_memfd=12 guest_memfd_offset=0x0 ret=-22",
            "kvm_set_user_memory AddrSpace#0 Slot#0 flags=0x0 gpa=0x0 size=0x80000000 ua=0x7f0000000000 guest_memfd=-1 guest_memfd_offset=0x0 ret=0",
            "kvm_convert_memory start 0x80000000 size 0x1000 private_to_shared",
            "kvm_convert_memory start 0x100002000 size 0x2000 shared_to_private",
            "kvm_memory_fault start 0x100004000 size 0x1000 flags 0x8",
            "kvm_vcpu_ioctl cpu_index 0, type 0xae80, arg (nil)",
            "kvm_run_exit cpu_index 0, reason 2",
            "qemu-system-x86_64: warning: host doesn't support requested feature",
            "# a comment", "", "   ", "\t", "  kvm_vcpu_ioctl  cpu_index 0  ", "kvm_vcpu_ioctl\tcpu_index 0", "kvm-vcpu ioctl",
            "x@1.5:kvm_vcpu_ioctl a", "42@:kvm_vcpu_ioctl a", "42@1.5 kvm_vcpu_ioctl a", "42@1.5:", "42@1.5: kvm_vcpu_ioctl a",
            "123456789012345678901@1.5:kvm_vcpu_ioctl a", "12345678901234567890@1.5:kvm_vcpu_ioctl a", "@1.5:kvm_vcpu_ioctl",
            "kvm_vcpu_ioctl é", "kvm_vcpu_ioctlé a", "42@1.5:kvm_memory_fault start 0x1000 size 0x1000 flags 0x0",
        ]
        var all: [String] = []
        for line in lines {
            for text in [line, stamp + line, " " + line, line + " \t "] {
                let bytes = Array(text.utf8)
                for count in 0...bytes.count { all.append(String(decoding: bytes.prefix(count), as: UTF8.self)) }
            }
        }
        var decided = 0
        for line in all {
            var copy = Array(line.utf8)
            let fromBytes = copy.withUnsafeMutableBufferPointer { QemuTraceReader.read(bytes: UnsafeBufferPointer($0), file: "q.log", number: 4) }
            #expect(fromBytes == QemuTraceReader.read(line, file: "q.log", number: 4), "\(line)")
            if copy.withUnsafeMutableBufferPointer({ QemuTraceReader.skippedEventName(UnsafeBufferPointer($0)) }) != nil { decided += 1 }
        }
        #expect(decided > 500)
    }
}
