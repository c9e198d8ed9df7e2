import Foundation
import GmemStore
import Testing

/// The kernel trace reader: every EVENTS.md §5 line kind, from real lines (seeds/real/lines.txt
/// and the captures) and, for events that never fire on this machine's shadow MMU, from lines
/// built exactly from the kernel's format strings in seeds/real/formats/.
@Suite struct FtraceReaderTests {
    func read(_ line: String) -> TraceLineReading {
        FtraceReader.read(line, file: "t.trace", number: 7)
    }

    func record(_ line: String) -> TraceRecord? {
        if case .record(let record) = read(line) { return record }
        return nil
    }

    /// The real lines of seeds/real/lines.txt, both shapes, by event name.
    static func realLines() throws -> [(shape: String, line: String)] {
        let text = try String(contentsOfFile: TraceFixtures.real("lines.txt"), encoding: .utf8)
        var shape = "tracefs"
        var lines: [(String, String)] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# ---- `trace-cmd report`") { shape = "trace-cmd" }
            if line.hasPrefix("#") { continue }
            lines.append((shape, String(line)))
        }
        return lines
    }

    @Test func everyRealLineIsReadOrSkippedByName() throws {
        let lines = try Self.realLines()
        #expect(lines.count == 38)
        for (shape, line) in lines {
            switch read(line) {
            case .record(let record):
                #expect(record.ts != nil && record.ts! > 731_000_000_000, "\(shape): \(line)")
                #expect(record.source == EventSource(file: "t.trace", line: 7, text: line))
            case .skipped(let name):
                #expect(!name.hasSuffix("(malformed)") && name != "(not a trace line)", "\(shape): \(line)")
            case .ignored:
                Issue.record("\(shape) line ignored: \(line)")
            }
        }
    }

    @Test func setSpteIsAMapInBothShapes() {
        let tracefs = " gmem-kvm-captur-5820    [000] ...1.   731.175696: kvm_mmu_set_spte: gfn 100000 spte 1226e0e67 (rwxu) level 1 at 1226c2000"
        let report = "gmem-capture-5809:  gmem-kvm-captur-5820  [000]   731.175696: kvm_mmu_set_spte:     gfn 100000 spte 1226e0e67 (rwxu) level 1 at 1226c2000"
        for line in [tracefs, report] {
            let record = record(line)
            #expect(record?.tracepoint == "kvm_mmu_set_spte")
            #expect(record?.kind == .map(gfn: 0x100000, pages: 1))
            #expect(record?.ts == 731_175_696_000)
        }
    }

    @Test func setSpteAboveLevelOneMapsAHugePageOnlyWithThePageSizeBit() {
        // kvm_mmu_set_spte's format: "gfn %llx spte %llx (%s%s%s%s) level %d at %llx".
        let huge = " qemu-1 [001] ...1.   10.000001: kvm_mmu_set_spte: gfn 100200 spte 8000000123400ee7 (rwxu) level 2 at 1226c2008"
        #expect(record(huge)?.kind == .map(gfn: 0x100200, pages: 512))
        let table = " qemu-1 [001] ...1.   10.000001: kvm_mmu_set_spte: gfn 100200 spte 123400e67 (rwxu) level 2 at 1226c2008"
        guard case .context = record(table)?.kind else { Issue.record("a non-leaf is not a map"); return }
    }

    @Test func contextTracepointsChangeNothing() {
        let real = [
            " gmem-kvm-captur-5820    [000] ...1.   731.175696: kvm_mmu_spte_requested: gfn 100000 pfn 1226e0 level 1",
            " gmem-kvm-captur-5820    [000] .....   731.175663: kvm_mmu_pagetable_walk: addr 10000 pferr 14 U|F",
            " gmem-kvm-captur-5820    [000] .....   731.175844: kvm_pio: pio_write at 0x10 size 4 count 1 val 0x1 ",
            " gmem-kvm-captur-5820    [000] .....   731.175788: kvm_userspace_exit: reason KVM_EXIT_IO (2)",
            // kvm_page_fault: "vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx" (does not fire on this MMU).
            " qemu-system-x86-4242    [003] .....   812.000100: kvm_page_fault: vcpu 0 rip 0xffffffff8100a1b2 address 0x0000000100002000 error_code 0x182",
            // kvm_exit's format starts "vcpu %u reason %s%s%s rip 0x%lx info1 0x%016llx info2 0x%016llx intr_info …".
            " qemu-system-x86-4242    [003] d..1.   812.000099: kvm_exit: vcpu 0 reason EPT_VIOLATION rip 0xffffffff8100a1b2 info1 0x0000000000000182 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000 requests 0x0000000000000000",
        ]
        for line in real {
            guard let record = record(line), case .context(nil) = record.kind else {
                Issue.record("not context: \(line)")
                continue
            }
            #expect(FtraceReader.contextTracepoints.contains(record.tracepoint))
        }
    }

    @Test func unmapHVARangeReadsZeroPaddedAddresses() {
        let line = " gmem-kvm-captur-5820    [000] .....   731.176095: kvm_unmap_hva_range: mmu notifier unmap range: 0x007f8121056000 -- 0x007f8121057000"
        #expect(record(line)?.kind == .unmapHVA(start: 0x7f81_2105_6000, end: 0x7f81_2105_7000))
    }

    @Test func zapAllFastAndPrepareZap() {
        let zapAll = " gmem-kvm-captur-6006    [000] ...1.   732.059325: kvm_mmu_zap_all_fast: kvm-mmu-valid-gen 0 used_pages 6"
        #expect(record(zapAll)?.kind == .zapAll)
        let reportZapAll = "gmem-capture-5946:  gmem-kvm-captur-6006  [000]   732.059325: kvm_mmu_zap_all_fast: kvm-mmu-valid-gen 0 used_pages 6"
        #expect(record(reportZapAll)?.kind == .zapAll)
        // A real indirect shadow page: its gfn is a guest page table's, so it is context only.
        let indirect = " gmem-kvm-captur-6006    [000] ...1.   732.059356: kvm_mmu_prepare_zap_page: sp gen 0 gfn 6 l1 8-byte q0 wux nxe ad root 0 sync"
        guard case .context(let note?) = record(indirect)?.kind else { Issue.record("indirect prepare_zap"); return }
        #expect(note.contains("indirect"))
        // The same format with the role's " direct" word: the gfn is the first of 512^level pages.
        let direct = " qemu-1 [000] ...1.   10.000001: kvm_mmu_prepare_zap_page: sp gen 0 gfn 100000 l1 8-byte q0 direct wux nxe ad root 0 sync"
        #expect(record(direct)?.kind == .zap(gfn: 0x100000, pages: 512))
        // trace-cmd's kvm plugin prints the role without a gfn.
        let report = "gmem-capture-5946:  gmem-kvm-captur-6006  [000]   732.059344: kvm_mmu_prepare_zap_page: 1 q0 wux !pae nxe wp root 0 sync"
        guard case .context = record(report)?.kind else { Issue.record("trace-cmd prepare_zap"); return }
    }

    @Test func tdpSpteChangedFollowsThePresentBit() {
        // "as id %d gfn %llx level %d old_spte %llx new_spte %llx"; present = bit 11 (0x800).
        func line(_ old: String, _ new: String, level: Int = 1) -> String {
            " qemu-system-x86-4242    [002] ...1.   900.000001: kvm_tdp_mmu_spte_changed: as id 0 gfn 100004 level \(level) old_spte \(old) new_spte \(new)"
        }
        #expect(record(line("5a0", "600000123456ef7"))?.kind == .map(gfn: 0x100004, pages: 1))
        #expect(record(line("600000123456ef7", "5a0"))?.kind == .zap(gfn: 0x100004, pages: 1))
        #expect(record(line("5a0", "600000123456ef7", level: 2))?.kind == .map(gfn: 0x100004, pages: 512))
        // Non-zero but not present (bit 11 clear, e.g. a frozen or MMIO SPTE): not a map.
        guard case .context = record(line("0", "5a0"))?.kind else { Issue.record("bit 0 is not the present bit"); return }
    }

    @Test func mapGPARangeHypercallIsAConvertRequest() {
        // "nr 0x%lx a0 0x%lx a1 0x%lx a2 0x%lx a3 0x%lx"; a2 bit 4 = KVM_MAP_GPA_RANGE_ENCRYPTED.
        let toPrivate = " qemu-system-x86-4242    [001] .....   900.000002: kvm_hypercall: nr 0xc a0 0x100002000 a1 0x2 a2 0x10 a3 0x0"
        #expect(record(toPrivate)?.kind == .convertRequest(gpa: 0x1_0000_2000, size: 0x2000, to: .private, implicit: false))
        let toShared = " qemu-system-x86-4242    [001] .....   900.000002: kvm_hypercall: nr 0xc a0 0x100006000 a1 0x1 a2 0x0 a3 0x0"
        #expect(record(toShared)?.kind == .convertRequest(gpa: 0x1_0000_6000, size: 0x1000, to: .shared, implicit: false))
        let other = " qemu-system-x86-4242    [001] .....   900.000002: kvm_hypercall: nr 0x5 a0 0x0 a1 0x1 a2 0x0 a3 0x0"
        guard case .context = record(other)?.kind else { Issue.record("another hypercall is context"); return }
    }

    @Test func iommuMapAndUnmap() {
        // "IOMMU: iova=0x%016llx - 0x%016llx paddr=0x%016llx size=%zu"
        let map = " qemu-system-x86-4242    [000] .....   900.000003: map: IOMMU: iova=0x00000000fee00000 - 0x00000000fee02000 paddr=0x0000000123400000 size=8192"
        #expect(record(map)?.kind == .iommuMap(iova: 0xfee0_0000, paddr: 0x1_2340_0000, size: 8192))
        // "IOMMU: iova=0x%016llx - 0x%016llx size=%zu unmapped_size=%zu"
        let unmap = " qemu-system-x86-4242    [000] .....   900.000004: unmap: IOMMU: iova=0x00000000fee00000 - 0x00000000fee02000 size=8192 unmapped_size=8192"
        #expect(record(unmap)?.kind == .iommuUnmap(iova: 0xfee0_0000, size: 8192))
    }

    @Test func markersAndUnknownEventsAreSkippedByName() {
        #expect(read(" gmem-kvm-captur-5820    [000] ...1.   731.175879: tracing_mark_write: gmem: punch_hole offset=0x2000 size=0x2000")
            == .skipped(name: "tracing_mark_write"))
        #expect(read("gmem-capture-5809:  gmem-kvm-captur-5820  [001]   731.174034: print:                tracing_mark_write: gmem: vm_create")
            == .skipped(name: "tracing_mark_write"))
        #expect(read(" gmem-kvm-captur-5820    [000] .....   731.175566: kvm_fpu: load") == .skipped(name: "kvm_fpu"))
        // A lost-events line is no longer skipped: it is a gap (EvidenceGapTests).
        #expect(record("CPU:1 [LOST 1234 EVENTS]")?.kind == .gap(source: "ftrace cpu 1", lost: 1234))
        #expect(read("# tracer: nop") == .ignored)
        #expect(read("cpus=2") == .ignored)
        #expect(read("") == .ignored)
    }

    /// Every prefix of every real line (a line cut short, as when a trace is copied while it is
    /// written) is read, skipped or ignored: never a wrong record, never a crash.
    @Test func truncatedLinesAreSkippedNotMisread() throws {
        var skipped = 0
        for (_, line) in try Self.realLines() {
            let full = read(line)
            for cut in 0..<line.count {
                let prefix = String(line.prefix(cut))
                switch read(prefix) {
                case .record(let record):
                    // Only a cut inside trailing text the format does not need may still read.
                    guard case .record(let whole) = full else {
                        Issue.record("a prefix of a skipped line became a record: \(prefix)")
                        continue
                    }
                    #expect(record.kind == whole.kind || record.kind == .context(note: nil), "misread prefix: \(prefix)")
                case .skipped:
                    skipped += 1
                case .ignored:
                    #expect(prefix.allSatisfy { $0 == " " }, "ignored prefix: \(prefix)")
                }
            }
        }
        #expect(skipped > 2000)
    }

    @Test func malformedBodiesAreCountedAsMalformed() {
        let lines = [
            " t-1 [000] ...1.   1.000001: kvm_mmu_set_spte: gfn zz spte 1 (rwxu) level 1 at 0",
            " t-1 [000] ...1.   1.000001: kvm_mmu_set_spte: gfn 100000 spte 1226e0e67 (rwxu) level 9 at 0",
            " t-1 [000] .....   1.000001: kvm_unmap_hva_range: mmu notifier unmap range: 0x2000 -- 0x1000",
            " t-1 [000] .....   1.000001: kvm_hypercall: nr 0xc a0 0x100000001 a1 0x1 a2 0x0 a3 0x0",
            " t-1 [000] .....   1.000001: kvm_hypercall: nr 0xc a0 0x100000000 a1 0x0 a2 0x0 a3 0x0",
            " t-1 [000] .....   1.000001: kvm_tdp_mmu_spte_changed: as id 0 gfn 1 level 1 old_spte 0",
        ]
        for line in lines {
            guard case .skipped(let name) = read(line) else { Issue.record("not skipped: \(line)"); continue }
            #expect(name.hasSuffix(" (malformed)"), "\(line)")
        }
        #expect(read("garbage without a cpu field: kvm_mmu_set_spte: gfn 1") == .skipped(name: "(not a trace line)"))
        #expect(read(" t-1 [000] ...1.   not-a-time: kvm_fpu: load") == .skipped(name: "(not a trace line)"))
    }

    /// Random bytes never crash the reader.
    @Test func arbitraryTextNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(" -[]0123456789abcdefx.:#|()\u{0}\u{FFFD}_kvmgfnsptelvIOMU=")
        var records = 0
        for _ in 0..<5000 {
            let length = Int.random(in: 0..<120, using: &generator)
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            for line in [text, " t-1 [000] ...1.   1.000001: kvm_mmu_set_spte: " + text] {
                if case .record(let record) = read(line) { records += 1; #expect(record.source.text == line) }
            }
            if case .record(let record) = QemuTraceReader.read(text, file: "q", number: 1) {
                #expect(record.source.text == text)
            }
        }
        #expect(records < 5000)
    }
}
