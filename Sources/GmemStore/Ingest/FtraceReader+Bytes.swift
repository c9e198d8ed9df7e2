/// The kernel-trace reader on a line's bytes (`IngestSource`, `PrefetchedSource`): most lines of
/// a real trace are events gmem does not take (`kvm_mmu_paging_element`, `kvm_emulate_insn`,
/// `kvm_entry` …), and the text reader made a `String` of each and split its body into words
/// before it found that out. Here such a line is recognised from its bytes and counted under
/// its event name without either; every other line goes to the text reader (`read(_:file:number:)`),
/// so what is read is the same line for line (`FtraceReaderTests`).
extension FtraceReader {
    /// The events whose bodies `parseBody` reads, and the marker (`print`, counted as
    /// `tracing_mark_write`): a line of any other event is skipped under its name.
    static let parsedEvents: Set<String> = KernelTracepoints.context.union(KernelTracepoints.stateful).union(["print"])

    /// Reads one line of `file` (line `number`) given as its bytes: what `read(_:file:number:)`
    /// reads from the same bytes decoded as UTF-8.
    static func read(bytes line: UnsafeBufferPointer<UInt8>, file: String, number: UInt64) -> TraceLineReading {
        if let name = skippedEventName(line) { return .skipped(name: name) }
        return read(String(decoding: line, as: UTF8.self), file: file, number: number)
    }

    /// The name of the event a line is of, when the line is certain to be skipped as an event
    /// this reader does not take; nil when the text reader must decide (a gap, a header, a
    /// comment, a marker, an event it takes, a line that is not a trace line).
    ///
    /// Only an all-ASCII line is decided here: each of its bytes is then one `Character`
    /// (a line holds no CR), so every test the text reader makes on characters is the same
    /// test on bytes. The steps are the text reader's, in its order.
    static func skippedEventName(_ line: UnsafeBufferPointer<UInt8>) -> String? {
        let count = line.count
        guard count > 0, let base = line.baseAddress else { return nil }
        // All ASCII: eight bytes at a time, then the rest.
        var index = 0
        while index + 8 <= count {
            if UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return nil }
            index += 8
        }
        while index < count {
            if line[index] >= 0x80 { return nil }
            index += 1
        }
        let space = UInt8(ascii: " ")
        func matches(_ at: Int, _ text: StaticString) -> Bool {
            let length = text.utf8CodeUnitCount
            guard at + length <= count else { return false }
            for offset in 0..<length where line[at + offset] != text.utf8Start[offset] { return false }
            return true
        }
        // The trimmed line: gaps (`CPU:`), comments and headers (`#`), trace-cmd's own header
        // lines (`cpus=`, `version = `, `CPU N is empty`) are the text reader's.
        var start = 0
        while start < count, line[start] == space || line[start] == UInt8(ascii: "\t") { start += 1 }
        guard start < count else { return nil }
        if line[start] == UInt8(ascii: "#") || matches(start, "CPU") || matches(start, "cpus=") || matches(start, "version = ") {
            return nil
        }
        // trace-cmd report's `BUFFER: CPU:N [...]`: `: CPU:` with no space before it.
        var firstSpace = start
        while firstSpace < count, line[firstSpace] != space { firstSpace += 1 }
        if firstSpace - start >= 6 {
            for at in start...(firstSpace - 6) where matches(at, ": CPU:") { return nil }
        }
        guard let event = eventRange(line) else { return nil }
        let name = String(decoding: UnsafeBufferPointer(rebasing: line[event]), as: UTF8.self)
        return parsedEvents.contains(name) ? nil : name
    }

    /// Where the event name of a trace line is, found as `splitHeader` finds it (the CPU field
    /// ` [DIGITS]`, the time `SECONDS.FRACTION:` in the next or the one after, then the name
    /// up to its `:`); nil when the line has not that shape.
    static func eventRange(_ line: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
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
        func time() -> Bool {
            skipSpaces()
            let start = cursor
            while cursor < count, line[cursor] != space { cursor += 1 }
            guard cursor > start, line[cursor - 1] == UInt8(ascii: ":") else { return false }
            return TraceNumber.seconds(UnsafeBufferPointer(rebasing: line[start..<(cursor - 1)])) != nil
        }
        guard time() || time() else { return nil }  // past the flags column of tracefs
        skipSpaces()
        let eventStart = cursor
        while cursor < count, line[cursor] != UInt8(ascii: ":") {
            if line[cursor] == space { return nil }
            cursor += 1
        }
        guard cursor < count, cursor > eventStart else { return nil }
        return eventStart..<cursor
    }
}
