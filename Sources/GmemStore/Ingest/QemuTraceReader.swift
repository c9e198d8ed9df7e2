/// Reads QEMU's `-trace` log (the `log` backend) for the guest_memfd events of
/// `accel/kvm/trace-events` (EVENTS.md §5):
///
/// - `kvm_set_user_memory AddrSpace#%d Slot#%d flags=0x%x gpa=0x%x size=0x%x ua=0x%x
///   guest_memfd=%d guest_memfd_offset=0x%x ret=%d` → `bind` (or `unbind` for size 0)
/// - `kvm_convert_memory start 0x%x size 0x%x shared_to_private|private_to_shared` → `convert`
/// - `kvm_memory_fault start 0x%x size 0x%x flags 0x%x` → `convert_request implicit=true`
///
/// With timestamps on, the backend prefixes each line with `TID@SECONDS.MICROS:` taken from
/// `gettimeofday()`, i.e. wall-clock time; the time becomes the event's `ts` in nanoseconds
/// since the Unix epoch. Without the prefix the events have no `ts`.
public enum QemuTraceReader {
    /// `KVM_MEM_GUEST_MEMFD`: the memslot is backed by a guest_memfd.
    static let memslotGuestMemfd: UInt64 = 1 << 2
    /// `KVM_MEMORY_EXIT_FLAG_PRIVATE`: the faulting access was private.
    static let memoryFaultPrivate: UInt64 = 1 << 3

    /// The trace events this reader turns into events.
    public static let events: Set<String> = ["kvm_set_user_memory", "kvm_convert_memory", "kvm_memory_fault"]

    /// Reads one line of `file` (line `number`).
    public static func read(_ text: String, file: String, number: UInt64) -> TraceLineReading {
        var line = Substring(text)
        while line.last == " " || line.last == "\t" { line = line.dropLast() }
        if line.drop(while: { $0 == " " }).isEmpty || line.hasPrefix("#") { return .ignored }
        var ts: Int64?
        if let prefix = timestampPrefix(line) {
            ts = prefix.ts
            line = line[prefix.end...]
        }
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = words.first, first.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            return .skipped(name: "(not a trace line)")
        }
        let name = String(first)
        guard events.contains(name) else { return .skipped(name: name) }
        let source = EventSource(file: file, line: number, text: text)
        guard let kind = parse(event: name, Array(words.dropFirst())) else { return .skipped(name: name + " (malformed)") }
        return .record(TraceRecord(tracepoint: name, ts: ts, kind: kind, source: source))
    }

    /// `TID@SECONDS.MICROS:` at the start of a line: its time and where the event name starts.
    static func timestampPrefix(_ line: Substring) -> (ts: Int64, end: Substring.Index)? {
        guard let at = line.firstIndex(of: "@"), TraceNumber.decimal(line[..<at]) != nil,
            let colon = line[at...].firstIndex(of: ":"),
            let ts = TraceNumber.seconds(line[line.index(after: at)..<colon])
        else { return nil }
        return (ts, line.index(after: colon))
    }

    static func parse(event: String, _ words: [Substring]) -> TraceRecord.Kind? {
        /// QEMU prints every hex number with a literal `0x`.
        func hex(_ text: Substring) -> UInt64? {
            text.hasPrefix("0x") ? TraceNumber.hex(text) : nil
        }
        func field(_ index: Int, _ prefix: String) -> Substring? {
            guard index < words.count, words[index].hasPrefix(prefix) else { return nil }
            return words[index].dropFirst(prefix.count)
        }
        switch event {
        case "kvm_set_user_memory":
            guard words.count == 9, let space = field(0, "AddrSpace#").flatMap(TraceNumber.decimal),
                let slot = field(1, "Slot#").flatMap(TraceNumber.decimal), space <= 0xffff, slot <= 0xffff,
                let flags = field(2, "flags=").flatMap(hex),
                let gpa = field(3, "gpa=").flatMap(hex), let size = field(4, "size=").flatMap(hex),
                let hva = field(5, "ua=").flatMap(hex), let fd = field(6, "guest_memfd=").flatMap(TraceNumber.signed),
                let offset = field(7, "guest_memfd_offset=").flatMap(hex),
                let ret = field(8, "ret=").flatMap(TraceNumber.signed),
                gpa % pageSize == 0, size % pageSize == 0, offset % pageSize == 0,
                !gpa.addingReportingOverflow(size).overflow, !offset.addingReportingOverflow(size).overflow
            else { return nil }
            guard flags & memslotGuestMemfd != 0 else {
                return .context(note: "memslot without KVM_MEM_GUEST_MEMFD: not gmem memory")
            }
            return .memslot(
                slot: space << 16 | slot, gpa: gpa, size: size, hva: hva, fd: fd, offset: offset,
                result: TraceNumber.errorName(ret))
        case "kvm_convert_memory":
            guard words.count == 5, words[0] == "start", words[2] == "size", let gpa = hex(words[1]),
                let size = hex(words[3]), let range = pageRange(gpa, size)
            else { return nil }
            switch words[4] {
            case "shared_to_private": return .convert(gpa: range.gpa, size: range.size, to: .private)
            case "private_to_shared": return .convert(gpa: range.gpa, size: range.size, to: .shared)
            default: return nil
            }
        case "kvm_memory_fault":
            guard words.count == 6, words[0] == "start", words[2] == "size", words[4] == "flags",
                let gpa = hex(words[1]), let size = hex(words[3]),
                let flags = hex(words[5]), let range = pageRange(gpa, size)
            else { return nil }
            return .convertRequest(
                gpa: range.gpa, size: range.size, to: flags & memoryFaultPrivate != 0 ? .private : .shared, implicit: true)
        default:
            return nil
        }
    }

    /// A page-aligned, non-empty range that does not wrap.
    static func pageRange(_ gpa: UInt64, _ size: UInt64) -> (gpa: UInt64, size: UInt64)? {
        guard size > 0, gpa % pageSize == 0, size % pageSize == 0, !gpa.addingReportingOverflow(size).overflow else {
            return nil
        }
        return (gpa, size)
    }
}
