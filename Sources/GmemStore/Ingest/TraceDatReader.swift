import CTraceDat
#if canImport(Glibc)
import Glibc
#endif

/// Reads trace-cmd's binary `trace.dat` through libtracecmd and libtraceevent (docs/TRACES.md):
/// every buffer (the top one and each tracefs instance) and every CPU of it, merged in time
/// order, with the full nanosecond timestamps the ring buffer recorded. No byte of the file's
/// format is read here: libtracecmd opens and decompresses it, libtraceevent reads each field by
/// the kernel's own format for its event. What a tracepoint's fields mean is
/// `KernelTracepoints`' to say, as for the text the kernel prints.
///
/// The libraries are loaded with dlopen the first time a trace.dat is met; without them a
/// trace.dat is refused with a message naming the package.
final class TraceDatReader {
    /// The magic every trace.dat starts with: `\x17\x08\x44tracing`.
    static let magic: [UInt8] = [0x17, 0x08, 0x44] + Array("tracing".utf8)

    /// The input's name (`src.file`).
    let name: String
    /// Records read so far; the last one's number from 1 is its `src.line`.
    private(set) var recordsRead: UInt64 = 0
    private let trace: OpaquePointer
    /// The reading of a record whose loss was handed over first.
    private var pending: TraceLineReading?

    /// Loads the libraries; nil when they are there, else why not.
    static func libraryProblem() -> String? {
        var error = [CChar](repeating: 0, count: 512)
        return gmem_tracedat_load(&error, error.count) == 0 ? nil : String(cString: error)
    }

    /// Opens the trace.dat on `descriptor` (seekable), which the reader takes and closes.
    init(descriptor: Int32, name: String) throws(StoreError) {
        self.name = name
        if let problem = Self.libraryProblem() {
            close(descriptor)
            throw .unreadableInput(path: name, reason: problem)
        }
        var error = [CChar](repeating: 0, count: 512)
        guard let trace = gmem_tracedat_open(descriptor, &error, error.count) else {
            throw .decode(file: name, line: 0, message: "trace.dat (trace-cmd's magic): " + String(cString: error))
        }
        self.trace = trace
    }

    deinit { gmem_tracedat_close(trace) }

    /// The next record as the text readers give a line: a record, a skipped event (counted by
    /// name), or nil at the end. Throws when libtracecmd cannot read on (a damaged file).
    func next() throws(StoreError) -> TraceLineReading? {
        if let pending {
            self.pending = nil
            return pending
        }
        var record = gmem_tracedat_record()
        switch gmem_tracedat_next(trace, &record) {
        case 1: break
        case 0: return nil
        default:
            throw .decode(file: name, line: recordsRead + 1, message: "libtracecmd faulted reading record \(recordsRead + 1) of this trace.dat: it is cut short or damaged")
        }
        recordsRead += 1
        let reading = self.reading(record)
        guard record.missed_events != 0 else { return reading }
        // The ring buffer dropped events before this record (libtraceevent's `missed_events`,
        // -1 when it does not know how many): a gap first, as `trace-cmd report` prints
        // `CPU:N [M EVENTS DROPPED]` before the record, without a time.
        pending = reading
        let lost = record.missed_events > 0 ? UInt64(record.missed_events) : nil
        return .record(
            TraceRecord(
                tracepoint: "[LOST EVENTS]", ts: nil, kind: .gap(source: "ftrace cpu \(record.cpu)", lost: lost),
                source: EventSource(file: name, line: recordsRead)))
    }

    /// What the current record is.
    private func reading(_ record: gmem_tracedat_record) -> TraceLineReading {
        let event = String(cString: record.name)
        let source = EventSource(file: name, line: recordsRead)
        guard let kind = self.kind(event: event, system: String(cString: record.system)) else {
            return .skipped(name: event.isEmpty ? "(event of no known format)" : KernelTracepoints.countedName(event))
        }
        guard let kind else { return .skipped(name: event + " (malformed)") }
        return .record(TraceRecord(tracepoint: event, ts: Int64(bitPattern: record.ts), kind: kind, source: source))
    }

    /// The number field `name` of the current record.
    private func field(_ name: String) -> UInt64? {
        var value: UInt64 = 0
        return gmem_tracedat_field(trace, name, &value) == 0 ? value : nil
    }

    /// What the current record of `event` is: nil for an event not read, `.some(nil)` for one
    /// whose format lacks a field the kernel's has.
    private func kind(event: String, system: String) -> TraceRecord.Kind?? {
        if KernelTracepoints.context.contains(event) { return .some(.context(note: nil)) }
        guard KernelTracepoints.stateful.contains(event) else { return nil }
        switch (system, event) {
        case (_, "kvm_mmu_set_spte"):
            guard let gfn = field("gfn"), let spte = field("spte"), let level = field("level") else { return .some(nil) }
            return .some(KernelTracepoints.setSPTE(gfn: gfn, spte: spte, level: level))
        case (_, "kvm_tdp_mmu_spte_changed"):
            guard let gfn = field("gfn"), let level = field("level"), let old = field("old_spte"), let new = field("new_spte")
            else { return .some(nil) }
            return .some(KernelTracepoints.spteChanged(gfn: gfn, level: level, old: old, new: new))
        case (_, "kvm_mmu_prepare_zap_page"):
            // `role` is `union kvm_mmu_page_role`'s word: level in bits 0-3, direct in bit 7
            // (arch/x86/include/asm/kvm_host.h since 5.17; the kernel's own print reads the same bits).
            guard let gfn = field("gfn"), let role = field("role") else { return .some(nil) }
            return .some(KernelTracepoints.prepareZap(gfn: gfn, level: role & 0xF, direct: role & (1 << 7) != 0))
        case (_, "kvm_mmu_zap_all_fast"):
            return .some(KernelTracepoints.zapAllFast())
        case (_, "kvm_unmap_hva_range"):
            guard let start = field("start"), let end = field("end") else { return .some(nil) }
            return .some(KernelTracepoints.unmapHVA(start: start, end: end))
        case (_, "kvm_hypercall"):
            guard let nr = field("nr"), let a0 = field("a0"), let a1 = field("a1"), let a2 = field("a2") else { return .some(nil) }
            return .some(KernelTracepoints.hypercall(nr: nr, a0: a0, a1: a1, a2: a2))
        case ("iommu", "map"):
            guard let iova = field("iova"), let paddr = field("paddr"), let size = field("size") else { return .some(nil) }
            return .some(KernelTracepoints.iommuMap(iova: iova, paddr: paddr, size: size))
        case ("iommu", "unmap"):
            guard let iova = field("iova"), let unmapped = field("unmapped_size") else { return .some(nil) }
            return .some(KernelTracepoints.iommuUnmap(iova: iova, unmapped: unmapped))
        default:
            return nil
        }
    }

    /// The current record's body as `trace-cmd report` prints it (libtraceevent's rendering,
    /// with trace-cmd's plugins), without a trailing line break.
    func info() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = gmem_tracedat_info(trace, &buffer, buffer.count)
        var text = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        while text.last == "\n" { text.removeLast() }
        return text
    }
}
