import Foundation
import Testing
@testable import GmemStore

/// The kernel-trace ingest's fast paths must read and store exactly what the plain paths do:
/// lines of events gmem does not take recognised from their bytes (`FtraceReader.read(bytes:)`).
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
}
