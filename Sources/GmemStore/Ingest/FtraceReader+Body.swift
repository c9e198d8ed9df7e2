#if canImport(Glibc)
import Glibc
#endif

/// The kernel-trace reader's line of a tracepoint it takes, read from the line's bytes
/// (`read(bytes:file:number:keepsText:)`): the header (`splitHeader`'s CPU field, time and
/// event name) and the body by its event's format string (`parseBody`'s), with no `String`,
/// `Substring` or array of words made. Only an all-ASCII line is read here (each byte is then
/// one `Character`, so every test the text reader makes on characters is the same test on
/// bytes); the marker (`print`), gaps, headers and a body of more than `maxWords` words go to
/// the text reader, which stays the reference (`FtraceBodyBytesTests` reads lines both ways).
extension FtraceReader {
    /// The tracepoints whose bodies are read from bytes: the ones `parseBody` reads.
    enum BodyEvent: String, CaseIterable {
        case setSPTE = "kvm_mmu_set_spte"
        case spteChanged = "kvm_tdp_mmu_spte_changed"
        case prepareZap = "kvm_mmu_prepare_zap_page"
        case zapAllFast = "kvm_mmu_zap_all_fast"
        case unmapHVA = "kvm_unmap_hva_range"
        case hypercall = "kvm_hypercall"
        case iommuMap = "map"
        case iommuUnmap = "unmap"
        case spteRequested = "kvm_mmu_spte_requested"
        case pageFault = "kvm_page_fault"
        case pagetableWalk = "kvm_mmu_pagetable_walk"
        case userspaceExit = "kvm_userspace_exit"
        case pio = "kvm_pio"
        case exit = "kvm_exit"

        /// The event named by `name`'s bytes, when it is one of these.
        static func named(_ name: UnsafeBufferPointer<UInt8>) -> BodyEvent? {
            guard let base = name.baseAddress else { return nil }
            for (event, bytes) in names where bytes.count == name.count {
                if bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, base, name.count) }) == 0 { return event }
            }
            return nil
        }

        /// Each event with its name's bytes.
        private static let names: [(BodyEvent, [UInt8])] = allCases.map { ($0, Array($0.rawValue.utf8)) }
    }

    /// The most words of a body read from bytes; a longer body is the text reader's.
    static let maxWords = 32

    /// What a line of `event` (its `header`) reads as, read from its bytes by the event's
    /// format; nil when its body has more than `maxWords` words (the text reader's then).
    /// `keepsText` false leaves the line's text out of the record's source.
    static func readBody(
        _ event: BodyEvent, header: (ts: Int64, event: Range<Int>, body: Int), line: UnsafeBufferPointer<UInt8>, file: String,
        number: UInt64, keepsText: Bool
    ) -> TraceLineReading? {
        let body = UnsafeBufferPointer(rebasing: line[header.body...])
        let parsed: TraceRecord.Kind?? = withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: maxWords) { storage in
            guard let words = BodyWords(body, storage: storage) else { return nil }
            return .some(parseBody(event, words))
        }
        guard let parsed else { return nil }
        guard let kind = parsed else { return .skipped(name: event.rawValue + " (malformed)") }
        let text = keepsText ? String(decoding: line, as: UTF8.self) : nil
        return .record(TraceRecord(tracepoint: event.rawValue, ts: header.ts, kind: kind, source: EventSource(file: file, line: number, text: text)))
    }

    /// Whether every byte of `line` is ASCII: eight bytes at a time, then the rest.
    static func isASCII(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = line.count
        guard let base = line.baseAddress else { return true }
        var index = 0
        while index + 8 <= count {
            if UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
            index += 8
        }
        while index < count {
            if line[index] >= 0x80 { return false }
            index += 1
        }
        return true
    }

    /// Whether an ASCII line is one the text reader looks at before its header: blank, a
    /// comment or header (`#`), a gap (`CPU:`, `BUFFER: CPU:`), trace-cmd's own header lines
    /// (`cpus=`, `version = `, `CPU N is empty`). Each such line is left to the text reader.
    static func startsAsNonEvent(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = line.count
        let space = UInt8(ascii: " ")
        func matches(_ at: Int, _ text: StaticString) -> Bool {
            let length = text.utf8CodeUnitCount
            guard at + length <= count else { return false }
            for offset in 0..<length where line[at + offset] != text.utf8Start[offset] { return false }
            return true
        }
        var start = 0
        while start < count, line[start] == space || line[start] == UInt8(ascii: "\t") { start += 1 }
        guard start < count else { return true }
        if line[start] == UInt8(ascii: "#") || matches(start, "CPU") || matches(start, "cpus=") || matches(start, "version = ") {
            return true
        }
        // trace-cmd report's `BUFFER: CPU:N [...]`: `: CPU:` with no space before it.
        var firstSpace = start
        while firstSpace < count, line[firstSpace] != space { firstSpace += 1 }
        if firstSpace - start >= 6 {
            for at in start...(firstSpace - 6) where matches(at, ": CPU:") { return true }
        }
        return false
    }

    /// `parseBody` on a body's words: the same tests, in the same order, on bytes.
    static func parseBody(_ event: BodyEvent, _ words: BodyWords) -> TraceRecord.Kind? {
        switch event {
        case .setSPTE:
            // "gfn %llx spte %llx (%s%s%s%s) level %d at %llx"
            guard words.count >= 7, words.is(0, "gfn"), words.is(2, "spte"), words.is(5, "level"),
                let gfn = words.hex(1), let spte = words.hex(3), let level = words.decimal(6),
                words.first(4) == UInt8(ascii: "("), words.last(4) == UInt8(ascii: ")")
            else { return nil }
            return KernelTracepoints.setSPTE(gfn: gfn, spte: spte, level: level)
        case .spteChanged:
            // "as id %d gfn %llx level %d old_spte %llx new_spte %llx"
            guard words.count >= 11, words.is(0, "as"), words.is(1, "id"), words.is(3, "gfn"), words.is(5, "level"),
                words.is(7, "old_spte"), words.is(9, "new_spte"),
                let gfn = words.hex(4), let level = words.decimal(6), let old = words.hex(8), let new = words.hex(10)
            else { return nil }
            return KernelTracepoints.spteChanged(gfn: gfn, level: level, old: old, new: new)
        case .prepareZap:
            // "sp gen %u gfn %llx l%u %u-byte q%u%s %s%s %snxe %sad root %u %s"; trace-cmd's kvm
            // plugin: "LEVEL q%u …" (`prepareZap(_:)`).
            let synced = words.contains("sync") || words.contains("unsync")
            if words.count > 0, words.is(0, "sp") {
                guard words.count >= 6, words.is(1, "gen"), words.decimal(2) != nil, words.is(3, "gfn"),
                    let gfn = words.hex(4), words.first(5) == UInt8(ascii: "l"),
                    let level = words.decimal(5, droppingFirst: 1), synced
                else { return nil }
                return KernelTracepoints.prepareZap(gfn: gfn, level: level, direct: words.contains("direct"))
            }
            guard words.count > 0, let level = words.decimal(0), synced else { return nil }
            return KernelTracepoints.prepareZap(gfn: nil, level: level, direct: false)
        case .zapAllFast:
            // "kvm-mmu-valid-gen %u used_pages %x"
            guard words.count >= 4, words.is(0, "kvm-mmu-valid-gen"), words.is(2, "used_pages"), words.decimal(1) != nil,
                words.hex(3) != nil
            else { return nil }
            return KernelTracepoints.zapAllFast()
        case .unmapHVA:
            // "mmu notifier unmap range: %#016lx -- %#016lx"
            guard words.count >= 7, words.is(0, "mmu"), words.is(1, "notifier"), words.is(2, "unmap"), words.is(3, "range:"),
                words.is(5, "--"), let start = words.hex(4), let end = words.hex(6)
            else { return nil }
            return KernelTracepoints.unmapHVA(start: start, end: end)
        case .hypercall:
            // "nr 0x%lx a0 0x%lx a1 0x%lx a2 0x%lx a3 0x%lx"
            guard words.count >= 10, words.is(0, "nr"), words.is(2, "a0"), words.is(4, "a1"), words.is(6, "a2"), words.is(8, "a3"),
                let nr = words.hex(1), let gpa = words.hex(3), let npages = words.hex(5), let attributes = words.hex(7),
                words.hex(9) != nil
            else { return nil }
            return KernelTracepoints.hypercall(nr: nr, a0: gpa, a1: npages, a2: attributes)
        case .iommuMap:
            // "IOMMU: iova=0x%016llx - 0x%016llx paddr=0x%016llx size=%zu"
            guard words.count >= 6, words.is(0, "IOMMU:"), words.is(2, "-"), let iova = words.hex(1, after: "iova="),
                words.hex(3) != nil, let paddr = words.hex(4, after: "paddr="), let size = words.decimal(5, after: "size=")
            else { return nil }
            return KernelTracepoints.iommuMap(iova: iova, paddr: paddr, size: size)
        case .iommuUnmap:
            // "IOMMU: iova=0x%016llx - 0x%016llx size=%zu unmapped_size=%zu"
            guard words.count >= 6, words.is(0, "IOMMU:"), words.is(2, "-"), let iova = words.hex(1, after: "iova="),
                words.hex(3) != nil, words.decimal(4, after: "size=") != nil,
                let unmapped = words.decimal(5, after: "unmapped_size=")
            else { return nil }
            return KernelTracepoints.iommuUnmap(iova: iova, unmapped: unmapped)
        case .spteRequested:
            // "gfn %llx pfn %llx level %d"
            return words.count >= 6 && words.is(0, "gfn") && words.is(2, "pfn") && words.is(4, "level") && words.hex(1) != nil
                && words.hex(3) != nil && words.decimal(5) != nil ? .context(note: nil) : nil
        case .pageFault:
            // "vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx"
            return words.count >= 8 && words.is(0, "vcpu") && words.is(2, "rip") && words.is(4, "address")
                && words.is(6, "error_code") && words.hex(5) != nil && words.hex(7) != nil ? .context(note: nil) : nil
        case .pagetableWalk:
            // "addr %llx pferr %x %s"
            return words.count >= 4 && words.is(0, "addr") && words.is(2, "pferr") && words.hex(1) != nil && words.hex(3) != nil
                ? .context(note: nil) : nil
        case .userspaceExit:
            // "reason %s (%d)"
            return words.count >= 3 && words.is(0, "reason") && words.first(words.count - 1) == UInt8(ascii: "(")
                && words.last(words.count - 1) == UInt8(ascii: ")") ? .context(note: nil) : nil
        case .pio:
            // "pio_%s at 0x%x size %d count %d val 0x%x %s"
            return words.count >= 9 && (words.is(0, "pio_read") || words.is(0, "pio_write")) && words.is(1, "at")
                && words.is(3, "size") && words.is(5, "count") && words.is(7, "val") && words.hex(2) != nil && words.hex(8) != nil
                ? .context(note: nil) : nil
        case .exit:
            // Kernel: "vcpu %u reason %s… rip 0x%lx info1 …"; trace-cmd's kvm plugin: "reason %s rip 0x%lx info …".
            return words.contains("reason") && words.contains("rip") ? .context(note: nil) : nil
        }
    }

    /// Where a trace line's parts are, found as `splitHeader` finds them (the CPU field
    /// ` [DIGITS]`, the time `SECONDS.FRACTION:` in the next word or the one after, the event
    /// name up to its `:`, the body after the spaces that follow); nil when the line has not
    /// that shape.
    static func header(_ line: UnsafeBufferPointer<UInt8>) -> (ts: Int64, event: Range<Int>, body: Int)? {
        let count = line.count
        let space = UInt8(ascii: " ")
        var index = 0
        var previous: UInt8 = 0
        var afterCPU: Int?
        while index < count {
            let byte = line[index]
            if byte == UInt8(ascii: "["), previous == space {
                var cursor = index + 1
                var digits = 0
                while cursor < count, line[cursor] >= 0x30, line[cursor] <= 0x39 {
                    cursor += 1
                    digits += 1
                }
                if digits > 0, cursor < count, line[cursor] == UInt8(ascii: "]") {
                    afterCPU = cursor + 1
                    break
                }
            }
            previous = byte
            index += 1
        }
        guard var cursor = afterCPU else { return nil }
        func skipSpaces() {
            while cursor < count, line[cursor] == space { cursor += 1 }
        }
        // The next word, when it is a time: `SECONDS.FRACTION:`.
        func time() -> Int64? {
            skipSpaces()
            let start = cursor
            while cursor < count, line[cursor] != space { cursor += 1 }
            guard cursor > start, line[cursor - 1] == UInt8(ascii: ":") else { return nil }
            return TraceNumber.seconds(UnsafeBufferPointer(rebasing: line[start..<(cursor - 1)]))
        }
        guard let ts = time() ?? time() else { return nil }  // past the flags column of tracefs
        skipSpaces()
        let eventStart = cursor
        while cursor < count, line[cursor] != UInt8(ascii: ":") {
            if line[cursor] == space { return nil }
            cursor += 1
        }
        guard cursor < count, cursor > eventStart else { return nil }
        let event = eventStart..<cursor
        cursor += 1
        skipSpaces()
        return (ts, event, cursor)
    }
}

/// A body's words, split at spaces as `parseBody` splits them (runs of spaces are one
/// separator, no empty words), as ranges of its bytes.
struct BodyWords {
    let bytes: UnsafeBufferPointer<UInt8>
    private let ranges: UnsafeMutableBufferPointer<Range<Int>>
    /// How many words the body has.
    private(set) var count = 0

    /// The words of `bytes`, kept in `storage`; nil when there are more than it holds.
    init?(_ bytes: UnsafeBufferPointer<UInt8>, storage: UnsafeMutableBufferPointer<Range<Int>>) {
        self.bytes = bytes
        self.ranges = storage
        let space = UInt8(ascii: " ")
        var index = 0
        let end = bytes.count
        while index < end {
            while index < end, bytes[index] == space { index += 1 }
            guard index < end else { break }
            let start = index
            while index < end, bytes[index] != space { index += 1 }
            guard count < storage.count else { return nil }
            storage.initializeElement(at: count, to: start..<index)
            count += 1
        }
    }

    /// Word `index`'s bytes (`index` < `count`).
    subscript(index: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[ranges[index]])
    }

    /// Whether word `index` is `text`.
    func `is`(_ index: Int, _ text: StaticString) -> Bool {
        guard index < count else { return false }
        let word = self[index]
        let length = text.utf8CodeUnitCount
        guard word.count == length else { return false }
        for offset in 0..<length where word[offset] != text.utf8Start[offset] { return false }
        return true
    }

    /// Whether any word is `text`.
    func contains(_ text: StaticString) -> Bool {
        for index in 0..<count where self.is(index, text) { return true }
        return false
    }

    /// Word `index`'s first byte (a word is never empty).
    func first(_ index: Int) -> UInt8? { index < count ? self[index].first : nil }
    /// Word `index`'s last byte.
    func last(_ index: Int) -> UInt8? { index < count ? self[index].last : nil }

    /// Word `index` as `TraceNumber.hex` reads it, after `prefix` (which it must start with).
    func hex(_ index: Int, after prefix: StaticString = "") -> UInt64? {
        guard let word = rest(index, after: prefix) else { return nil }
        return TraceNumber.hex(bytes: word)
    }

    /// Word `index` as `TraceNumber.decimal` reads it, after `prefix` (which it must start
    /// with), or after its first `droppingFirst` bytes.
    func decimal(_ index: Int, after prefix: StaticString = "", droppingFirst: Int = 0) -> UInt64? {
        guard let word = rest(index, after: prefix) else { return nil }
        return TraceNumber.decimal(bytes: UnsafeBufferPointer(rebasing: word.dropFirst(droppingFirst)))
    }

    private func rest(_ index: Int, after prefix: StaticString) -> UnsafeBufferPointer<UInt8>? {
        guard index < count else { return nil }
        let word = self[index]
        let length = prefix.utf8CodeUnitCount
        guard word.count >= length else { return nil }
        for offset in 0..<length where word[offset] != prefix.utf8Start[offset] { return nil }
        return UnsafeBufferPointer(rebasing: word[length...])
    }
}

extension TraceNumber {
    /// `hex(_:)` of a word's bytes: `0x` or `0X` dropped, then at most 16 bytes read as
    /// `UInt64(_:radix: 16)` reads them (a `+` or `-` sign first allowed; `-` only before zero).
    static func hex(bytes text: UnsafeBufferPointer<UInt8>) -> UInt64? {
        var digits = text[...]
        if digits.count >= 2, digits[digits.startIndex] == UInt8(ascii: "0"),
            digits[digits.startIndex + 1] == UInt8(ascii: "x") || digits[digits.startIndex + 1] == UInt8(ascii: "X")
        {
            digits = digits.dropFirst(2)
        }
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var negative = false
        if digits.first == UInt8(ascii: "+") || digits.first == UInt8(ascii: "-") {
            negative = digits.first == UInt8(ascii: "-")
            digits = digits.dropFirst()
            guard !digits.isEmpty else { return nil }
        }
        var value: UInt64 = 0
        for byte in digits {
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)  // at most 16 digits: no overflow
        }
        return negative && value != 0 ? nil : value
    }

    /// `decimal(_:)` of a word's bytes: digits only, nil past `UInt64.max`.
    static func decimal(bytes text: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard !text.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in text {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(byte - 0x30))
            guard !overflow, !carry else { return nil }
            value = sum
        }
        return value
    }
}
