/// The QEMU trace-log reader on a line's bytes, as the kernel-trace reader does
/// (`FtraceReader+Bytes.swift`): a QEMU started with `-trace 'kvm_*'` logs many events gmem
/// does not read (`kvm_vcpu_ioctl`, `kvm_run_exit` …). Such a line is recognised from its bytes
/// and counted under its event name without a `String` or a split into words; every other
/// line goes to the text reader (`read(_:file:number:)`), so what is read is the same line for
/// line (`TraceIngestFastPathTests`).
extension QemuTraceReader {
    /// Reads one line of `file` (line `number`) given as its bytes: what `read(_:file:number:)`
    /// reads from the same bytes decoded as UTF-8.
    static func read(bytes line: UnsafeBufferPointer<UInt8>, file: String, number: UInt64) -> TraceLineReading {
        if let name = skippedEventName(line) { return .skipped(name: name) }
        return read(String(decoding: line, as: UTF8.self), file: file, number: number)
    }

    /// The name of the event a line is of, when the line is certain to be skipped as an event
    /// this reader does not read; nil when the text reader must decide. Only an all-ASCII line
    /// is decided here (each byte is then one `Character`); the steps are the text reader's.
    static func skippedEventName(_ line: UnsafeBufferPointer<UInt8>) -> String? {
        var end = line.count
        for byte in line where byte >= 0x80 { return nil }
        let space = UInt8(ascii: " ")
        while end > 0, line[end - 1] == space || line[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        // Blank lines and comments are the text reader's.
        guard end > 0, line[0] != UInt8(ascii: "#"), line[..<end].contains(where: { $0 != space }) else { return nil }
        // `TID@SECONDS.MICROS:`: the first `@` after digits only, the first `:` after it.
        var start = 0
        if let at = line[..<end].firstIndex(of: UInt8(ascii: "@")) {
            guard at < 20 else { return nil }  // a thread id past UInt64 is the text reader's
            if at > 0, line[..<at].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let colon = line[at..<end].firstIndex(of: UInt8(ascii: ":")),
                TraceNumber.seconds(UnsafeBufferPointer(rebasing: line[(at + 1)..<colon])) != nil
            {
                start = colon + 1
            }
        }
        // The first word (words are split at spaces), made of ASCII letters, digits and `_`.
        while start < end, line[start] == space { start += 1 }
        var cursor = start
        while cursor < end, line[cursor] != space {
            let byte = line[cursor]
            let isWordByte = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_")
            guard isWordByte else { return nil }
            cursor += 1
        }
        guard cursor > start else { return nil }
        let name = String(decoding: UnsafeBufferPointer(rebasing: line[start..<cursor]), as: UTF8.self)
        return events.contains(name) ? nil : name
    }
}
