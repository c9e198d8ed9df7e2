/// The kernel-trace reader on a line's bytes (`IngestSource`, `PrefetchedSource`): most lines of
/// a real trace are events gmem does not take (`kvm_mmu_paging_element`, `kvm_emulate_insn`,
/// `kvm_entry` …), and the text reader made a `String` of each and split its body into words
/// before it found that out. Here such a line is recognised from its bytes and counted under
/// its event name without either, and a line of one of the 14 tracepoints it takes is read by
/// its format from the bytes too (`FtraceReader+Body.swift`); every other line goes to the text
/// reader (`read(_:file:number:)`), so what is read is the same line for line
/// (`TraceIngestFastPathTests`, `FtraceBodyBytesTests`).
extension FtraceReader {
    /// The events whose bodies `parseBody` reads, and the marker (`print`, counted as
    /// `tracing_mark_write`): a line of any other event is skipped under its name.
    static let parsedEvents: Set<String> = KernelTracepoints.context.union(KernelTracepoints.stateful).union(["print"])

    /// Reads one line of `file` (line `number`) given as its bytes: what `read(_:file:number:)`
    /// reads from the same bytes decoded as UTF-8. A line of an event it does not take is
    /// counted by name, and a line of one it takes read by its format (`readBody`), from the
    /// bytes; every other line goes to the text reader. `keepsText` false leaves the line's
    /// text out of a record's source (an input kept in the store, where the merge drops it:
    /// `MergeIngest.stored`), so that no `String` of the line is made for it.
    static func read(bytes line: UnsafeBufferPointer<UInt8>, file: String, number: UInt64, keepsText: Bool = true) -> TraceLineReading {
        if isASCII(line), !startsAsNonEvent(line), let header = header(line) {
            let name = UnsafeBufferPointer(rebasing: line[header.event])
            if let event = BodyEvent.named(name) {
                if let reading = readBody(event, header: header, line: line, file: file, number: number, keepsText: keepsText) {
                    return reading
                }
            } else if !name.elementsEqual("print".utf8) {
                return .skipped(name: String(decoding: name, as: UTF8.self))
            }
        }
        let reading = read(String(decoding: line, as: UTF8.self), file: file, number: number)
        guard !keepsText, case .record(var record) = reading else { return reading }
        record.source.text = nil
        return .record(record)
    }

    /// The name of the event a line is of, when the line is certain to be skipped as an event
    /// this reader does not take; nil when the text reader must decide (a gap, a header, a
    /// comment, a marker, an event it takes, a line that is not a trace line).
    ///
    /// Only an all-ASCII line is decided here: each of its bytes is then one `Character`
    /// (a line holds no CR), so every test the text reader makes on characters is the same
    /// test on bytes. The steps are the text reader's, in its order.
    static func skippedEventName(_ line: UnsafeBufferPointer<UInt8>) -> String? {
        guard isASCII(line), !startsAsNonEvent(line), let event = eventRange(line) else { return nil }
        let name = String(decoding: UnsafeBufferPointer(rebasing: line[event]), as: UTF8.self)
        return parsedEvents.contains(name) ? nil : name
    }

    /// Where the event name of a trace line is (`header(_:)`); nil when the line has not the
    /// shape of a trace line.
    static func eventRange(_ line: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        header(line)?.event
    }
}
