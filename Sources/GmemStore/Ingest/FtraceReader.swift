/// Reads the text the kernel's tracing prints: tracefs `trace` and `trace_pipe`, and
/// `trace-cmd report` (EVENTS.md §5).
///
/// Line shapes:
/// - tracefs: `TASK-PID [CPU] FLAGS SECONDS.MICROS: EVENT: BODY`
/// - `trace-cmd report`: `[BUFFER:] TASK-PID [CPU] SECONDS.MICROS: EVENT: BODY`, the event name
///   padded with spaces, the marker printed as `print: tracing_mark_write: …`.
///
/// Each body is read by the kernel's own format string for its event (`events/*/format`, copies
/// in `seeds/real/formats/`). A line of an event not in the EVENTS.md §5 table, a marker, or a
/// line that does not have its format's shape (cut short, garbled) is skipped and counted under
/// its event name; nothing here throws on bad input.
public enum FtraceReader {
    /// The tracepoints kept as context: no state change (EVENTS.md §5).
    public static var contextTracepoints: Set<String> { KernelTracepoints.context }

    /// Reads one line of `file` (line `number`).
    public static func read(_ text: String, file: String, number: UInt64) -> TraceLineReading {
        let line = Substring(text)
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        if trimmed.hasPrefix("CPU:") || trimmed.hasPrefix("#"), let gap = gapRecord(trimmed, text: text, file: file, number: number) {
            return .record(gap)
        }
        // trace-cmd report names an instance's buffer first: `BUFFER: CPU:N [M EVENTS DROPPED]`.
        // Looked for in the line's bytes: Foundation's `range(of:)` bridged every line to an
        // NSString (a sixth of the reading thread's time on a kernel trace), and the standard
        // library's generic `firstRange(of:)` was slower still.
        if let range = trimmed.firstRange(ofASCII: ": CPU:"), !trimmed[..<range.lowerBound].contains(" "),
            let gap = gapRecord(trimmed[trimmed.index(range.lowerBound, offsetBy: 2)...], text: text, file: file, number: number)
        {
            return .record(gap)
        }
        if trimmed.isEmpty || trimmed.hasPrefix("#") { return .ignored }
        // trace-cmd report's own header lines.
        if trimmed.hasPrefix("cpus=") || trimmed.hasPrefix("version = ")
            || (trimmed.hasPrefix("CPU ") && trimmed.hasSuffix(" is empty"))
        {
            return .ignored
        }
        guard let header = splitHeader(line) else { return .skipped(name: "(not a trace line)") }
        var event = header.event
        var body = header.body
        if event == "print" {
            // The marker, as trace-cmd report prints it: `print: SYMBOL: text`, the symbol of its
            // ip (`tracing_mark_write`), or the bare address when the trace.dat has no kallsyms.
            event = Substring(KernelTracepoints.countedName("print"))
            if let first = body.split(separator: " ", maxSplits: 1).first, first.hasSuffix(":") {
                body = body.dropFirst(first.count).drop(while: { $0 == " " })
            }
        }
        let name = String(event)
        let source = EventSource(file: file, line: number, text: text)
        guard let kind = parseBody(event: name, body: body) else {
            return .skipped(name: name)
        }
        switch kind {
        case .some(let kind):
            return .record(TraceRecord(tracepoint: name, ts: header.ts, kind: kind, source: source))
        case .none:
            return .skipped(name: name + " (malformed)")
        }
    }

    /// Splits a line into its timestamp, event name and body; nil when it has not the shape of
    /// a trace line. Scans bytes: every delimiter is ASCII.
    static func splitHeader(_ line: Substring) -> (ts: Int64, event: Substring, body: Substring)? {
        let bytes = line.utf8
        let end = bytes.endIndex
        let space = UInt8(ascii: " ")
        // The CPU field: " [" digits "]". The task name before it may hold spaces and dashes.
        var index = bytes.startIndex
        var previous: UInt8 = 0
        var afterCPU: String.Index?
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "["), previous == space {
                var cursor = bytes.index(after: index)
                var digits = 0
                while cursor < end, bytes[cursor] >= 0x30, bytes[cursor] <= 0x39 {
                    cursor = bytes.index(after: cursor)
                    digits += 1
                }
                if digits > 0, cursor < end, bytes[cursor] == UInt8(ascii: "]") {
                    afterCPU = bytes.index(after: cursor)
                    break
                }
            }
            previous = byte
            index = bytes.index(after: index)
        }
        guard var cursor = afterCPU else { return nil }
        func skipSpaces() {
            while cursor < end, bytes[cursor] == space { cursor = bytes.index(after: cursor) }
        }
        func token() -> Substring {
            skipSpaces()
            let start = cursor
            while cursor < end, bytes[cursor] != space { cursor = bytes.index(after: cursor) }
            return line[start..<cursor]
        }
        func time(_ word: Substring) -> Int64? {
            guard word.utf8.last == UInt8(ascii: ":") else { return nil }
            return TraceNumber.seconds(word.dropLast())
        }
        var ts = time(token())
        if ts == nil { ts = time(token()) }  // past the flags column of tracefs
        guard let ts else { return nil }
        skipSpaces()
        let eventStart = cursor
        while cursor < end, bytes[cursor] != UInt8(ascii: ":") {
            if bytes[cursor] == space { return nil }
            cursor = bytes.index(after: cursor)
        }
        guard cursor < end, cursor > eventStart else { return nil }
        let event = line[eventStart..<cursor]
        cursor = bytes.index(after: cursor)
        skipSpaces()
        return (ts, event, line[cursor...])
    }

    /// The record kind for a body of `event`: nil for an event this reader does not take,
    /// `.some(nil)` for a body that does not have the event's format.
    static func parseBody(event: String, body: Substring) -> TraceRecord.Kind?? {
        let words = body.utf8.split(separator: UInt8(ascii: " ")).map { Substring($0) }
        func word(_ index: Int) -> Substring? { index < words.count ? words[index] : nil }
        func hex(_ index: Int) -> UInt64? { word(index).flatMap(TraceNumber.hex) }
        func decimal(_ index: Int) -> UInt64? { word(index).flatMap(TraceNumber.decimal) }
        func matches(_ pattern: [String?]) -> Bool {
            guard words.count >= pattern.count else { return false }
            for (index, expected) in pattern.enumerated() where expected != nil {
                if words[index] != expected! { return false }
            }
            return true
        }
        // The values each format string printed; what they mean is KernelTracepoints' to say.
        switch event {
        case "kvm_mmu_set_spte":
            // "gfn %llx spte %llx (%s%s%s%s) level %d at %llx"
            guard matches(["gfn", nil, "spte", nil, nil, "level", nil]), let gfn = hex(1), let spte = hex(3),
                let level = decimal(6), word(4)!.hasPrefix("("), word(4)!.hasSuffix(")")
            else { return .some(nil) }
            return .some(KernelTracepoints.setSPTE(gfn: gfn, spte: spte, level: level))
        case "kvm_tdp_mmu_spte_changed":
            // "as id %d gfn %llx level %d old_spte %llx new_spte %llx"
            guard matches(["as", "id", nil, "gfn", nil, "level", nil, "old_spte", nil, "new_spte", nil]),
                let gfn = hex(4), let level = decimal(6), let old = hex(8), let new = hex(10)
            else { return .some(nil) }
            return .some(KernelTracepoints.spteChanged(gfn: gfn, level: level, old: old, new: new))
        case "kvm_mmu_prepare_zap_page":
            return .some(prepareZap(words))
        case "kvm_mmu_zap_all_fast":
            // "kvm-mmu-valid-gen %u used_pages %x"
            guard matches(["kvm-mmu-valid-gen", nil, "used_pages", nil]), decimal(1) != nil, hex(3) != nil else {
                return .some(nil)
            }
            return .some(KernelTracepoints.zapAllFast())
        case "kvm_unmap_hva_range":
            // "mmu notifier unmap range: %#016lx -- %#016lx"
            guard matches(["mmu", "notifier", "unmap", "range:", nil, "--", nil]), let start = hex(4), let end = hex(6)
            else { return .some(nil) }
            return .some(KernelTracepoints.unmapHVA(start: start, end: end))
        case "kvm_hypercall":
            // "nr 0x%lx a0 0x%lx a1 0x%lx a2 0x%lx a3 0x%lx"
            guard matches(["nr", nil, "a0", nil, "a1", nil, "a2", nil, "a3", nil]), let nr = hex(1), let gpa = hex(3),
                let npages = hex(5), let attributes = hex(7), hex(9) != nil
            else { return .some(nil) }
            return .some(KernelTracepoints.hypercall(nr: nr, a0: gpa, a1: npages, a2: attributes))
        case "map":
            // "IOMMU: iova=0x%016llx - 0x%016llx paddr=0x%016llx size=%zu"
            guard matches(["IOMMU:", nil, "-", nil, nil, nil]), let iova = field(word(1), "iova="),
                hex(3) != nil, let paddr = field(word(4), "paddr="), let size = field(word(5), "size=", decimal: true)
            else { return .some(nil) }
            return .some(KernelTracepoints.iommuMap(iova: iova, paddr: paddr, size: size))
        case "unmap":
            // "IOMMU: iova=0x%016llx - 0x%016llx size=%zu unmapped_size=%zu"
            guard matches(["IOMMU:", nil, "-", nil, nil, nil]), let iova = field(word(1), "iova="), hex(3) != nil,
                field(word(4), "size=", decimal: true) != nil,
                let unmapped = field(word(5), "unmapped_size=", decimal: true)
            else { return .some(nil) }
            return .some(KernelTracepoints.iommuUnmap(iova: iova, unmapped: unmapped))
        case "kvm_mmu_spte_requested":
            // "gfn %llx pfn %llx level %d"
            return .some(matches(["gfn", nil, "pfn", nil, "level", nil]) && hex(1) != nil && hex(3) != nil && decimal(5) != nil
                ? .context(note: nil) : nil)
        case "kvm_page_fault":
            // "vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx"
            return .some(matches(["vcpu", nil, "rip", nil, "address", nil, "error_code", nil]) && hex(5) != nil && hex(7) != nil
                ? .context(note: nil) : nil)
        case "kvm_mmu_pagetable_walk":
            // "addr %llx pferr %x %s"
            return .some(matches(["addr", nil, "pferr", nil]) && hex(1) != nil && hex(3) != nil ? .context(note: nil) : nil)
        case "kvm_userspace_exit":
            // "reason %s (%d)"
            return .some(matches(["reason", nil, nil]) && words.last!.hasPrefix("(") && words.last!.hasSuffix(")")
                ? .context(note: nil) : nil)
        case "kvm_pio":
            // "pio_%s at 0x%x size %d count %d val 0x%x %s"
            return .some((word(0) == "pio_read" || word(0) == "pio_write") && matches([nil, "at", nil, "size", nil, "count", nil, "val", nil])
                && hex(2) != nil && hex(8) != nil ? .context(note: nil) : nil)
        case "kvm_exit":
            // Kernel: "vcpu %u reason %s… rip 0x%lx info1 …"; trace-cmd's kvm plugin: "reason %s rip 0x%lx info …".
            return .some(words.contains("reason") && words.contains("rip") ? .context(note: nil) : nil)
        default:
            return nil
        }
    }

    /// `kvm_mmu_prepare_zap_page`: "sp gen %u gfn %llx l%u %u-byte q%u%s %s%s %snxe %sad root %u %s"
    /// (`%s` after the quadrant is " direct" for a direct shadow page). trace-cmd's kvm plugin
    /// prints the role without any gfn: "LEVEL q%u …".
    static func prepareZap(_ words: [Substring]) -> TraceRecord.Kind? {
        if words.first == "sp" {
            guard words.count >= 6, words[1] == "gen", TraceNumber.decimal(words[2]) != nil, words[3] == "gfn",
                let gfn = TraceNumber.hex(words[4]), words[5].hasPrefix("l"),
                let level = TraceNumber.decimal(words[5].dropFirst()),
                words.contains(where: { $0 == "sync" || $0 == "unsync" })
            else { return nil }
            return KernelTracepoints.prepareZap(gfn: gfn, level: level, direct: words.contains("direct"))
        }
        guard let level = words.first.flatMap(TraceNumber.decimal), words.contains(where: { $0 == "sync" || $0 == "unsync" })
        else { return nil }
        return KernelTracepoints.prepareZap(gfn: nil, level: level, direct: false)
    }

    /// The number after `prefix` in `word` (`iova=0x…`, `size=4096`).
    static func field(_ word: Substring?, _ prefix: String, decimal: Bool = false) -> UInt64? {
        guard let word, word.hasPrefix(prefix) else { return nil }
        let value = word.dropFirst(prefix.count)
        return decimal ? TraceNumber.decimal(value) : TraceNumber.hex(value)
    }
}

extension Substring {
    /// The range of the first occurrence of `needle`, which must be ASCII, found in the
    /// UTF-8 bytes: each byte of an ASCII needle is a whole character, so the range's bounds
    /// are character boundaries.
    func firstRange(ofASCII needle: StaticString) -> Range<Index>? {
        let bytes = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard let first = bytes.first else { return startIndex..<startIndex }
        var from = utf8.startIndex
        while let hit = utf8[from...].firstIndex(of: first) {
            var end = hit
            var matched = 0
            while matched < bytes.count, end < utf8.endIndex, utf8[end] == bytes[matched] {
                end = utf8.index(after: end)
                matched += 1
            }
            if matched == bytes.count { return hit..<end }
            from = utf8.index(after: hit)
        }
        return nil
    }
}
