import Testing
@testable import GmemStore

/// The bodies of the 14 tracepoints the kernel-trace reader takes, read from a line's bytes
/// (`FtraceReader+Body.swift`), must read as the text reader reads them: each tracepoint well
/// formed in both shapes (tracefs, `trace-cmd report`), each with every field broken in turn,
/// and many lines made at random from the words of its format.
@Suite struct FtraceBodyBytesTests {
    static let tracefs = " qemu-system-x86-4242    [003] ...1.   812.000100: "
    static let report = "gmem-capture-5809:  gmem-kvm-captur-5820  [000]   731.175696: "

    /// What the bytes alone make of `line`; nil when they leave it to the text reader.
    static func fromBytes(_ line: String, keepsText: Bool = true) -> TraceLineReading? {
        let bytes = Array(line.utf8)
        return bytes.withUnsafeBufferPointer { line -> TraceLineReading? in
            guard FtraceReader.isASCII(line), !FtraceReader.startsAsNonEvent(line), let header = FtraceReader.header(line),
                let event = FtraceReader.BodyEvent.named(UnsafeBufferPointer(rebasing: line[header.event]))
            else { return nil }
            return FtraceReader.readBody(event, header: header, line: line, file: "k.trace", number: 7, keepsText: keepsText)
        }
    }

    /// `line` through `FtraceReader.read(bytes:…)`, the ingest's way in.
    static func read(bytes line: String, keepsText: Bool = true) -> TraceLineReading {
        let bytes = Array(line.utf8)
        return bytes.withUnsafeBufferPointer { FtraceReader.read(bytes: $0, file: "k.trace", number: 7, keepsText: keepsText) }
    }

    /// One well-formed body of each tracepoint, with what it reads as.
    static let wellFormed: [(event: String, body: String, kind: TraceRecord.Kind)] = [
        ("kvm_mmu_set_spte", "gfn 100000 spte 1226e0e67 (rwxu) level 1 at 1226c2000", .map(gfn: 0x100000, pages: 1)),
        ("kvm_tdp_mmu_spte_changed", "as id 0 gfn 100004 level 2 old_spte 5a0 new_spte 600000123456ef7", .map(gfn: 0x100004, pages: 512)),
        (
            "kvm_mmu_prepare_zap_page", "sp gen 0 gfn 100000 l1 8-byte q0 direct wux nxe ad root 0 sync",
            .zap(gfn: 0x100000, pages: 512)
        ),
        ("kvm_mmu_zap_all_fast", "kvm-mmu-valid-gen 0 used_pages 6", .zapAll),
        (
            "kvm_unmap_hva_range", "mmu notifier unmap range: 0x007f8121056000 -- 0x007f8121057000",
            .unmapHVA(start: 0x7f81_2105_6000, end: 0x7f81_2105_7000)
        ),
        (
            "kvm_hypercall", "nr 0xc a0 0x100002000 a1 0x2 a2 0x10 a3 0x0",
            .convertRequest(gpa: 0x1_0000_2000, size: 0x2000, to: .private, implicit: false)
        ),
        (
            "map", "IOMMU: iova=0x00000000fee00000 - 0x00000000fee02000 paddr=0x0000000123400000 size=8192",
            .iommuMap(iova: 0xfee0_0000, paddr: 0x1_2340_0000, size: 8192)
        ),
        (
            "unmap", "IOMMU: iova=0x00000000fee00000 - 0x00000000fee02000 size=8192 unmapped_size=4096",
            .iommuUnmap(iova: 0xfee0_0000, size: 4096)
        ),
        ("kvm_mmu_spte_requested", "gfn 100000 pfn 1226e0 level 1", .context(note: nil)),
        ("kvm_page_fault", "vcpu 0 rip 0xffffffff8100a1b2 address 0x0000000100002000 error_code 0x182", .context(note: nil)),
        ("kvm_mmu_pagetable_walk", "addr 10000 pferr 14 U|F", .context(note: nil)),
        ("kvm_userspace_exit", "reason KVM_EXIT_IO (2)", .context(note: nil)),
        ("kvm_pio", "pio_write at 0x10 size 4 count 1 val 0x1 ", .context(note: nil)),
        (
            "kvm_exit", "vcpu 0 reason EPT_VIOLATION rip 0xffffffff8100a1b2 info1 0x0000000000000182 info2 0x0000000000000000",
            .context(note: nil)
        ),
    ]

    /// Each of the 14 tracepoints, in both shapes, is read from its bytes, as the text reader
    /// reads it; with `keepsText` false the record is the same without the line's text.
    @Test func everyTracepointIsReadFromItsBytes() {
        #expect(Set(Self.wellFormed.map(\.event)) == KernelTracepoints.context.union(KernelTracepoints.stateful))
        #expect(Set(FtraceReader.BodyEvent.allCases.map(\.rawValue)) == KernelTracepoints.context.union(KernelTracepoints.stateful))
        for (event, body, kind) in Self.wellFormed {
            for prefix in [Self.tracefs, Self.report] {
                let line = prefix + event + ": " + body
                let text = FtraceReader.read(line, file: "k.trace", number: 7)
                guard case .record(let record)? = Self.fromBytes(line) else {
                    Issue.record("not read from its bytes: \(line)")
                    continue
                }
                #expect(record.kind == kind, "\(line)")
                #expect(record.tracepoint == event)
                #expect(.record(record) == text, "\(line)")
                #expect(Self.read(bytes: line) == text, "\(line)")
                var withoutText = record
                withoutText.source.text = nil
                #expect(Self.read(bytes: line, keepsText: false) == .record(withoutText), "\(line)")
            }
        }
    }

    /// Bodies with each field broken in turn: a word missing, a literal changed, a number not
    /// a number, too long, signed, past `UInt64.max`, a value the kernel cannot have recorded.
    /// Each is counted as its event's `(malformed)` (or read, when the format allows it),
    /// from the bytes, as the text reader counts it.
    @Test func malformedFieldsAreCountedAsTheTextReaderCountsThem() {
        let bodies: [(event: String, body: String, malformed: Bool)] = [
            ("kvm_mmu_set_spte", "gfn zz spte 1 (rwxu) level 1 at 0", true),
            ("kvm_mmu_set_spte", "gfn 100000 spte 1226e0e67 (rwxu) level 9 at 0", true),
            ("kvm_mmu_set_spte", "gfn 100000 spte 1226e0e67 rwxu level 1 at 0", true),
            ("kvm_mmu_set_spte", "gfn 100000 spte 1226e0e67 (rwxu level 1 at 0", true),
            ("kvm_mmu_set_spte", "gfn 100000 spte 1226e0e67 (rwxu) level", true),
            ("kvm_mmu_set_spte", "gfn 100000 spte 11226e0e670000000 (rwxu) level 1 at 0", true),
            ("kvm_mmu_set_spte", "gfn +100000 spte 0X1226e0e67 (rwxu) level 1 at 0", false),
            ("kvm_mmu_set_spte", "gfn -0 spte 1 (rwxu) level 1", false),
            ("kvm_mmu_set_spte", "gfn -1 spte 1 (rwxu) level 1", true),
            ("kvm_mmu_set_spte", "gfn 0x spte 1 (rwxu) level 1", true),
            ("kvm_mmu_set_spte", "gfn 1 spte 1 (rwxu) level 18446744073709551616", true),
            ("kvm_mmu_set_spte", "gfn 1 spte 1 (rwxu) levels 1", true),
            ("kvm_tdp_mmu_spte_changed", "as id 0 gfn 1 level 1 old_spte 0", true),
            ("kvm_tdp_mmu_spte_changed", "as id 0 gfn 1 level 1 old_spte 0 new_spte g", true),
            ("kvm_tdp_mmu_spte_changed", "as id 0 gfn 1 level 0 old_spte 0 new_spte 800", true),
            ("kvm_tdp_mmu_spte_changed", "as  id   0 gfn 1 level 1 old_spte 0 new_spte 800", false),
            ("kvm_mmu_prepare_zap_page", "sp gen 0 gfn 6 l1 8-byte q0 wux nxe ad root 0", true),
            ("kvm_mmu_prepare_zap_page", "sp gen x gfn 6 l1 8-byte q0 wux nxe ad root 0 sync", true),
            ("kvm_mmu_prepare_zap_page", "sp gen 0 gfn 6 1 8-byte q0 wux nxe ad root 0 sync", true),
            ("kvm_mmu_prepare_zap_page", "sp gen 0 gfn 6 l 8-byte q0 wux nxe ad root 0 sync", true),
            ("kvm_mmu_prepare_zap_page", "sp gen 0 gfn 6 l6 8-byte q0 wux nxe ad root 0 unsync", true),
            ("kvm_mmu_prepare_zap_page", "sp gen 0 gfn 6 l1 8-byte q0 wux nxe ad root 0 unsync", false),
            ("kvm_mmu_prepare_zap_page", "1 q0 wux !pae nxe wp root 0 sync", false),
            ("kvm_mmu_prepare_zap_page", "x q0 wux !pae nxe wp root 0 sync", true),
            ("kvm_mmu_prepare_zap_page", "", true),
            ("kvm_mmu_zap_all_fast", "kvm-mmu-valid-gen 0 used_pages", true),
            ("kvm_mmu_zap_all_fast", "kvm-mmu-valid-gen -1 used_pages 6", true),
            ("kvm_mmu_zap_all_fast", "kvm-mmu-valid-gen 0 used_page 6", true),
            ("kvm_unmap_hva_range", "mmu notifier unmap range: 0x2000 -- 0x1000", true),
            ("kvm_unmap_hva_range", "mmu notifier unmap range: 0x1000 - 0x2000", true),
            ("kvm_unmap_hva_range", "mmu notifier unmap range 0x1000 -- 0x2000", true),
            ("kvm_hypercall", "nr 0xc a0 0x100000001 a1 0x1 a2 0x0 a3 0x0", true),
            ("kvm_hypercall", "nr 0xc a0 0x100000000 a1 0x0 a2 0x0 a3 0x0", true),
            ("kvm_hypercall", "nr 0xc a0 0x100000000 a1 0x1 a2 0x0 a3", true),
            ("kvm_hypercall", "nr 0xc a0 0x100000000 a1 0x1 a2 0x0 a3 0xq", true),
            ("kvm_hypercall", "nr 0x5 a0 0x0 a1 0x1 a2 0x0 a3 0x0", false),
            ("map", "IOMMU: iova=0x1000 - 0x2000 paddr=0x126000000 size=0", true),
            ("map", "IOMMU: iova=0x1000 - 0x2000 paddr=0x126000000 size=0x10", true),
            ("map", "IOMMU: iova 0x1000 - 0x2000 paddr=0x126000000 size=4096", true),
            ("map", "IOMMU: iova=0x1000 - 0x2000 addr=0x126000000 size=4096", true),
            ("map", "IOMMU: iova=0x1000 -- 0x2000 paddr=0x126000000 size=4096", true),
            ("unmap", "IOMMU: iova=0x1000 - 0x2000 size=4096", true),
            ("unmap", "IOMMU: iova=0x1000 - 0x2000 size=x unmapped_size=4096", true),
            ("unmap", "IOMMU: iova=0x1000 - 0x2000 size=4096 unmapped_size=0", false),
            ("kvm_mmu_spte_requested", "gfn 100000 pfn 1226e0 level x", true),
            ("kvm_mmu_spte_requested", "gfn 100000 pfn level 1", true),
            ("kvm_page_fault", "vcpu 0 rip 0x1 address 0xzz error_code 0x182", true),
            ("kvm_page_fault", "vcpu 0 rip 0x1 address 0x1 error_code", true),
            ("kvm_mmu_pagetable_walk", "addr 10000 pferr", true),
            ("kvm_mmu_pagetable_walk", "addr 10000 pferr 14", false),
            ("kvm_userspace_exit", "reason KVM_EXIT_IO 2", true),
            ("kvm_userspace_exit", "reason (2)", true),
            ("kvm_userspace_exit", "reason KVM_EXIT_IO (2) (3)", false),
            ("kvm_pio", "pio_peek at 0x10 size 4 count 1 val 0x1", true),
            ("kvm_pio", "pio_read at 0x10 size 4 count 1 val", true),
            ("kvm_exit", "vcpu 0 reason EPT_VIOLATION", true),
            ("kvm_exit", "reason HLT rip 0x1 info 0 0", false),
        ]
        for (event, body, malformed) in bodies {
            for prefix in [Self.tracefs, Self.report] {
                let line = prefix + event + ": " + body
                let text = FtraceReader.read(line, file: "k.trace", number: 7)
                guard let bytes = Self.fromBytes(line) else {
                    Issue.record("not read from its bytes: \(line)")
                    continue
                }
                #expect(bytes == text, "\(line)")
                if malformed {
                    #expect(bytes == .skipped(name: event + " (malformed)"), "\(line)")
                } else {
                    guard case .record = bytes else { Issue.record("not read: \(line)"); continue }
                }
            }
        }
    }

    /// Lines the bytes leave to the text reader: not ASCII, the marker, a gap, a body of more
    /// than `maxWords` words. `read(bytes:)` still reads them as the text reader does.
    @Test func linesLeftToTheTextReader() {
        // Four words and 29 more: one past the most.
        let long = "reason HLT rip 0x1" + String(repeating: " w", count: FtraceReader.maxWords - 3)
        let lines = [
            Self.tracefs + "kvm_exit: " + long,
            Self.tracefs + "kvm_userspace_exit: reason KVM_EXIT_É (2)",
            Self.report + "print:                tracing_mark_write: mark",
            "CPU:0 [LOST 12 EVENTS]",
            "gmem-capture: CPU:3 [LOST 4 EVENTS]",
        ]
        for line in lines {
            #expect(Self.fromBytes(line) == nil, "\(line)")
            #expect(Self.read(bytes: line) == FtraceReader.read(line, file: "k.trace", number: 7), "\(line)")
        }
        #expect(Self.fromBytes(Self.tracefs + "kvm_exit: " + long.dropLast(2)) != nil)
    }

    /// Lines made at random from the words of each tracepoint's format (numbers in every base
    /// and sign, the literals, their near misses, spaces doubled): the bytes read each as the
    /// text reader does.
    @Test func randomBodiesReadAsTheTextReaderReads() {
        var generator = Xorshift(seed: 0x5eed_0007)
        let pieces = [
            "gfn", "spte", "pfn", "level", "at", "as", "id", "old_spte", "new_spte", "sp", "gen", "l1", "l4", "l0", "l", "8-byte",
            "q0", "direct", "sync", "unsync", "root", "kvm-mmu-valid-gen", "used_pages", "mmu", "notifier", "unmap", "range:",
            "--", "-", "nr", "a0", "a1", "a2", "a3", "IOMMU:", "iova=0x1000", "iova=", "paddr=0x2000", "size=4096", "size=",
            "unmapped_size=4096", "unmapped_size=0x1", "vcpu", "rip", "address", "error_code", "addr", "pferr", "reason",
            "(2)", "(", ")", "()", "pio_read", "pio_write", "count", "val", "0", "1", "2", "5", "9", "0x0", "0xc", "0x10",
            "0X1f", "+5", "-0", "-1", "ffffffffffffffff", "10000000000000000", "0x0000000000001000", "18446744073709551615",
            "18446744073709551616", "(rwxu)", "0x", "zz", "",
        ]
        let events = Self.wellFormed.map(\.event)
        var fromBytes = 0
        var records = 0
        for round in 0..<20_000 {
            let event = events[round % events.count]
            var words: [String]
            if generator.next() % 2 == 0 {
                // A well-formed body with one to three words replaced.
                words = Self.wellFormed[round % events.count].body.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                for _ in 0..<(1 + Int(generator.next() % 3)) where !words.isEmpty {
                    words[Int(generator.next() % UInt64(words.count))] = pieces[Int(generator.next() % UInt64(pieces.count))]
                }
            } else {
                words = (0..<Int(generator.next() % 14)).map { _ in pieces[Int(generator.next() % UInt64(pieces.count))] }
            }
            let separator = generator.next() % 5 == 0 ? "  " : " "
            let line = (round % 3 == 0 ? Self.report : Self.tracefs) + event + ":" + separator + words.joined(separator: separator)
            let text = FtraceReader.read(line, file: "k.trace", number: 7)
            if let bytes = Self.fromBytes(line) {
                fromBytes += 1
                #expect(bytes == text, "\(line)")
            }
            #expect(Self.read(bytes: line) == text, "\(line)")
            if case .record = text { records += 1 }
        }
        #expect(fromBytes == 20_000)
        #expect(records > 1_000)
    }

    /// The number readers on bytes read every word as the ones on text do.
    @Test func numbersFromBytesAreTheNumbersFromText() {
        var generator = Xorshift(seed: 11)
        let alphabet = Array("0123456789abcdefABCDEFxX+- g")
        for _ in 0..<50_000 {
            let word = String((0..<Int(generator.next() % 24)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            Array(word.utf8).withUnsafeBufferPointer { bytes in
                #expect(TraceNumber.hex(bytes: bytes) == TraceNumber.hex(Substring(word)), "\(word)")
                #expect(TraceNumber.decimal(bytes: bytes) == TraceNumber.decimal(Substring(word)), "\(word)")
            }
        }
    }

    /// A small fixed-seed generator: the same lines on every run.
    struct Xorshift {
        var state: UInt64
        init(seed: UInt64) { state = seed | 1 }
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
    }
}
