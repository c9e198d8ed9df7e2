import GmemStore
import Testing

/// QEMU's -trace log. No QEMU with guest_memfd runs on this machine, so every line here is built
/// exactly from the format strings of QEMU's accel/kvm/trace-events (docs/KERNEL.md §7),
/// with and without the log backend's `TID@SECONDS.MICROS:` prefix (scripts/tracetool/backend/log.py).
@Suite struct QemuTraceReaderTests {
    func record(_ line: String) -> TraceRecord? {
        if case .record(let record) = QemuTraceReader.read(line, file: "qemu.log", number: 3) { return record }
        return nil
    }

    // kvm_set_user_memory: "AddrSpace#%d Slot#%d flags=0x%x gpa=0x%"PRIx64 " size=0x%"PRIx64 " ua=0x%"PRIx64
    //   " guest_memfd=%d" " guest_memfd_offset=0x%" PRIx64 " ret=%d"
    static let setMemory =
        "kvm_set_user_memory AddrSpace#0 Slot#1 flags=0x4 gpa=0x100000000 size=0x40000 ua=0x7f0123400000 guest_memfd=12 guest_memfd_offset=0x0 ret=0"

    @Test func setUserMemoryWithAGuestMemfdIsABinding() {
        for (line, ts) in [(Self.setMemory, nil), ("4242@1721301168.123456:" + Self.setMemory, Int64(1_721_301_168_123_456_000))] {
            let record = record(line)
            #expect(record?.tracepoint == "kvm_set_user_memory")
            #expect(record?.ts == ts)
            #expect(record?.kind == .memslot(slot: 1, gpa: 0x1_0000_0000, size: 0x40000, hva: 0x7f01_2340_0000, fd: 12, offset: 0, result: "ok"))
            #expect(record?.source.text == line)
        }
    }

    @Test func setUserMemoryDetailsAddressSpacesFailuresAndPlainSlots() {
        let deleted = "kvm_set_user_memory AddrSpace#1 Slot#3 flags=0x4 gpa=0x100000000 size=0x0 ua=0x7f0123400000 guest_memfd=12 guest_memfd_offset=0x0 ret=0"
        #expect(record(deleted)?.kind == .memslot(slot: 0x10003, gpa: 0x1_0000_0000, size: 0, hva: 0x7f01_2340_0000, fd: 12, offset: 0, result: "ok"))
        let failed = "kvm_set_user_memory AddrSpace#0 Slot#1 flags=0x4 gpa=0x100000000 size=0x40000 ua=0x7f0123400000 guest_memfd=12 guest_memfd_offset=0x0 ret=-22"
        guard case .memslot(_, _, _, _, _, _, let result)? = record(failed)?.kind else { Issue.record("failed memslot"); return }
        #expect(result == "EINVAL")
        // flags without KVM_MEM_GUEST_MEMFD (1 << 2): ordinary memory, kept as context.
        let plain = "kvm_set_user_memory AddrSpace#0 Slot#0 flags=0x0 gpa=0x0 size=0x80000000 ua=0x7f0000000000 guest_memfd=-1 guest_memfd_offset=0x0 ret=0"
        guard case .context? = record(plain)?.kind else { Issue.record("plain memslot"); return }
    }

    @Test func convertMemoryIsAConvert() {
        // kvm_convert_memory: "start 0x%" PRIx64 " size 0x%" PRIx64 " %s"
        #expect(record("kvm_convert_memory start 0x80000000 size 0x1000 private_to_shared")?.kind
            == .convert(gpa: 0x8000_0000, size: 0x1000, to: .shared))
        #expect(record("4242@1721301168.000001:kvm_convert_memory start 0x100002000 size 0x2000 shared_to_private")?.kind
            == .convert(gpa: 0x1_0000_2000, size: 0x2000, to: .private))
    }

    @Test func memoryFaultIsAnImplicitConvertRequest() {
        // kvm_memory_fault: "start 0x%" PRIx64 " size 0x%" PRIx64 " flags 0x%" PRIx64; flag bit 3 = private.
        #expect(record("kvm_memory_fault start 0x100004000 size 0x1000 flags 0x8")?.kind
            == .convertRequest(gpa: 0x1_0000_4000, size: 0x1000, to: .private, implicit: true))
        #expect(record("kvm_memory_fault start 0x100004000 size 0x1000 flags 0x0")?.kind
            == .convertRequest(gpa: 0x1_0000_4000, size: 0x1000, to: .shared, implicit: true))
    }

    @Test func otherLinesAreSkippedByName() {
        func skipped(_ line: String) -> String? {
            if case .skipped(let name) = QemuTraceReader.read(line, file: "q", number: 1) { return name }
            return nil
        }
        #expect(skipped("kvm_vcpu_ioctl cpu_index 0, type 0xae80, arg (nil)") == "kvm_vcpu_ioctl")
        #expect(skipped("kvm_convert_memory start 0x80000000 size 0x1000 sideways") == "kvm_convert_memory (malformed)")
        #expect(skipped("kvm_convert_memory start 0x80000001 size 0x1000 private_to_shared") == "kvm_convert_memory (malformed)")
        #expect(skipped("kvm_memory_fault start 0x100004000 size 0x1000") == "kvm_memory_fault (malformed)")
        #expect(skipped(String(Self.setMemory.dropLast(6))) == "kvm_set_user_memory (malformed)")
        #expect(skipped("qemu-system-x86_64: warning: host doesn't support requested feature") == "(not a trace line)")
        #expect(QemuTraceReader.read("", file: "q", number: 1) == .ignored)
    }

    /// A line cut short is skipped unless only its last number was cut (which no reader can
    /// see in the line itself: an input that ends inside a line is caught by `IngestSource`).
    @Test func everyPrefixOfALineIsSkippedOrCutInItsLastNumber() {
        for line in [Self.setMemory, "kvm_memory_fault start 0x100004000 size 0x1000 flags 0x8"] {
            let whole = record(line)
            #expect(whole != nil)
            let words = line.split(separator: " ").count
            var read = 0
            for cut in 0..<line.count {
                let prefix = String(line.prefix(cut))
                guard let partial = record(prefix) else { continue }
                read += 1
                #expect(prefix.split(separator: " ").count == words, "a truncated line became \(partial.kind): \(prefix)")
            }
            #expect(read <= 2)
        }
    }
}
