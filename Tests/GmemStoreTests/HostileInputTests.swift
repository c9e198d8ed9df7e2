import Foundation
import Testing
import GmemFuzzing
@testable import GmemStore

/// Hand-made hostile inputs for the trace readers (DecodeTests covers JSON Lines): invalid
/// UTF-8, NUL bytes, a 10 MB line, numbers past 2^64, negative sizes, ranges that wrap, CR
/// line ends, no final line break. Each goes through the fuzz harness (which traps on a broken
/// promise) and through a store on disk: the ingest ends within seconds, either refused with a
/// decode error naming the line and an unchanged store, or accepted with a store that verifies
/// where the hostile line changed no state (skipped, or kept as a `context` event with a note).
@Suite struct HostileInputTests {
    static let ftracePrefix = " gmem-kvm-captur-5820    [000] ...1.   731.175700: "
    static let ftraceGood = " gmem-kvm-captur-5820    [000] ...1.   731.175696: kvm_mmu_set_spte: gfn 100000 spte 1226e0e67 (rwxu) level 1 at 1226c2000\n"
    static let qemuGood = "kvm_set_user_memory AddrSpace#0 Slot#1 flags=0x4 gpa=0x100000000 size=0x40000 ua=0x7f0123400000 guest_memfd=12 guest_memfd_offset=0x0 ret=0\n"

    static let ftraceHostile: [(String, [UInt8])] = [
        ("gfn past 2^64", Array((ftracePrefix + "kvm_mmu_set_spte: gfn 1ffffffffffffffff spte 1226e0e67 (rwxu) level 1 at 1226c2000").utf8)),
        ("level-5 page at the top of the address space (wraps)", Array((ftracePrefix + "kvm_mmu_set_spte: gfn fffffffffffffff spte 1226e0ee7 (rwxu) level 5 at 0").utf8)),
        ("hypercall range that wraps", Array((ftracePrefix + "kvm_hypercall: nr 0xc a0 0xfffffffffffff000 a1 0x2 a2 0x0 a3 0x0").utf8)),
        ("hypercall with 2^52 pages", Array((ftracePrefix + "kvm_hypercall: nr 0xc a0 0x1000 a1 0x10000000000000 a2 0x0 a3 0x0").utf8)),
        ("negative IOMMU size", Array((ftracePrefix + "map: IOMMU: iova=0x0000000000001000 - 0x0000000000002000 paddr=0x0000000000001000 size=-4096").utf8)),
        ("hva range backwards", Array((ftracePrefix + "kvm_unmap_hva_range: mmu notifier unmap range: 0xffffffffffffffff -- 0x1").utf8)),
        ("timestamp past 2^64 ns", Array(" x-1 [000] ..... 99999999999999999999999.000001: kvm_mmu_set_spte: gfn 1 spte 1 (r) level 1 at 0".utf8)),
        ("invalid UTF-8", Array(ftracePrefix.utf8) + [0xFF, 0xFE, 0xC3, 0x28] + Array(": kvm_mmu_set_spte: gfn 1 spte 1 (r) level 1 at 0".utf8)),
        ("NUL bytes", Array((ftracePrefix + "kvm_mmu_set_spte: gfn 1").utf8) + [0, 0, 0] + Array(" spte 1 (r) level 1 at 0".utf8)),
        ("10 MB line", Array((ftracePrefix + "kvm_mmu_set_spte: gfn ").utf8) + [UInt8](repeating: UInt8(ascii: "1"), count: 10_000_000)),
        ("10 MB of one word", [UInt8](repeating: UInt8(ascii: "x"), count: 10_000_000)),
    ]

    static let qemuHostile: [(String, [UInt8])] = [
        ("gpa past 2^64", Array("kvm_set_user_memory AddrSpace#0 Slot#1 flags=0x4 gpa=0x1ffffffffffffffff size=0x40000 ua=0x7f0123400000 guest_memfd=12 guest_memfd_offset=0x0 ret=0".utf8)),
        ("memslot that wraps", Array("kvm_set_user_memory AddrSpace#0 Slot#1 flags=0x4 gpa=0xfffffffffffff000 size=0x2000 ua=0x7f0123400000 guest_memfd=12 guest_memfd_offset=0x0 ret=0".utf8)),
        ("negative size", Array("kvm_convert_memory start 0x100000000 size -0x1000 private_to_shared".utf8)),
        ("convert that wraps", Array("kvm_convert_memory start 0xfffffffffffff000 size 0x2000 private_to_shared".utf8)),
        ("slot number past 2^32", Array("kvm_set_user_memory AddrSpace#99999999999 Slot#99999999999 flags=0x4 gpa=0x0 size=0x1000 ua=0x0 guest_memfd=12 guest_memfd_offset=0x0 ret=0".utf8)),
        ("time past 2^64 ns", Array("4242@99999999999999999999.123456:kvm_convert_memory start 0x1000 size 0x1000 private_to_shared".utf8)),
        ("invalid UTF-8", Array("kvm_convert_memory start 0x1000 size ".utf8) + [0xC0, 0x80, 0xFF] + Array(" private_to_shared".utf8)),
        ("NUL bytes", Array("kvm_convert_memory start 0x1000".utf8) + [0] + Array(" size 0x1000 private_to_shared".utf8)),
        ("10 MB line", Array("kvm_convert_memory start 0x".utf8) + [UInt8](repeating: UInt8(ascii: "f"), count: 10_000_000)),
    ]

    /// Runs `good` + `hostile` (+ line break variants) through the harness and a store.
    func check(_ name: String, _ hostile: [UInt8], good: String, format: InputFormat) throws {
        for ending: [UInt8] in [[0x0A], [0x0D, 0x0A], []] {
            let bytes = Array(good.utf8) + hostile + ending
            let started = Date()
            for detected in [format, nil] { bytes.withUnsafeBytes { ReaderHarness.run($0, format: detected) } }

            let temporary = try TemporaryStore()
            let path = temporary.directory + "/hostile.\(format.rawValue)"
            #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            let goodOnly = try TemporaryStore()
            let goodPath = try goodOnly.file("good.\(format.rawValue)", good)
            let baseline = try MergeIngest().ingest([(goodPath, format)], into: goodOnly.store).batch.added
            do {
                let summary = try MergeIngest().ingest([(path, format)], into: temporary.store)
                #expect(try Verifier(store: temporary.store).run().passed, "\(format) \(name)")
                // The hostile line changes no state: it gives no event, or a `context` event
                // whose note says why it was not taken (EVENTS.md §5).
                #expect(summary.batch.added <= baseline + 1)
                try temporary.store.forEachEvent(in: (Int64(baseline) + 1)...Int64.max) { stored in
                    let event = try stored.decoded()
                    #expect(event.op.name == "context", "\(format) \(name): the hostile line became \(stored.body)")
                    return true
                }
            } catch let error as StoreError {
                guard case .decode(let file, let line, _) = error else { Issue.record("\(format) \(name): \(error)"); continue }
                #expect(file == path && line == 2, "\(error)")
                #expect(try temporary.count("event") == 0)
            }
            #expect(Date().timeIntervalSince(started) < 20, "\(format) \(name) took \(Date().timeIntervalSince(started)) s")
        }
    }

    @Test("hostile kernel trace lines are skipped or refused, never crash or hang", arguments: ftraceHostile.indices)
    func ftrace(index: Int) throws {
        let (name, bytes) = Self.ftraceHostile[index]
        try check(name, bytes, good: Self.ftraceGood, format: .ftrace)
    }

    @Test("hostile QEMU trace lines are skipped or refused, never crash or hang", arguments: qemuHostile.indices)
    func qemu(index: Int) throws {
        let (name, bytes) = Self.qemuHostile[index]
        try check(name, bytes, good: Self.qemuGood, format: .qemu)
    }
}
