/// The text formats `ingest` reads.
public enum InputFormat: String, Sendable, CaseIterable {
    /// gmem JSON Lines (EVENTS.md §2).
    case jsonl
    /// The kernel's tracing text: tracefs `trace` / `trace_pipe`, or `trace-cmd report`.
    case ftrace
    /// QEMU's `-trace` log (the `log` backend).
    case qemu

    /// The format of a file whose first line that is neither empty nor a `#` comment is
    /// `line`; nil when the line fits none of them.
    ///
    /// JSON Lines start with `{`. A kernel trace line has a `[CPU]` field and a
    /// `SECONDS.MICROS:` time (`trace-cmd report` may start with its `cpus=N` header). A QEMU
    /// log line starts with `TID@SECONDS.MICROS:` or with a trace event name.
    public static func detect(line: Substring) -> InputFormat? {
        let text = line.drop(while: { $0 == " " || $0 == "\t" })
        if text.hasPrefix("{") { return .jsonl }
        if text.hasPrefix("cpus=") || text.hasPrefix("version = ") || FtraceReader.splitHeader(line) != nil {
            return .ftrace
        }
        if QemuTraceReader.timestampPrefix(text) != nil { return .qemu }
        let name = text.prefix(while: { $0 != " " })
        if !name.isEmpty, name.count < text.count,
            name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
        {
            return .qemu
        }
        return nil
    }
}

extension InputFormat {
    /// The format of the file at `path`, from its first line that is neither empty nor a `#`
    /// comment; nil for standard input (`-`, detected as it is read), for an empty file, and
    /// for a first line that fits no format.
    public static func detect(path: String) throws(StoreError) -> InputFormat? {
        guard path != "-" else { return nil }
        let reader = try LineReader(path: path)
        var format: InputFormat?
        var decided = false
        do {
            while !decided, try reader.next({ bytes in
                let text = String(decoding: bytes, as: UTF8.self)
                let trimmed = text.drop(while: { $0 == " " || $0 == "\t" })
                guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { return }
                format = detect(line: Substring(text))
                decided = true
            }) {}
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.unreadableInput(path: path, reason: "\(error)")
        }
        return format
    }
}
