/// The formats `ingest` reads.
public enum InputFormat: String, Sendable, CaseIterable {
    /// gmem JSON Lines (EVENTS.md §2).
    case jsonl
    /// The kernel's tracing text: tracefs `trace` / `trace_pipe`, or `trace-cmd report`.
    case ftrace
    /// QEMU's `-trace` log (the `log` backend).
    case qemu
    /// trace-cmd's binary `trace.dat`, told by its magic (`\x17\x08\x44tracing`) and read
    /// through libtracecmd (`TraceDatReader`).
    case traceDat = "trace.dat"

    /// The format of an input whose first line that is neither empty nor a `#` comment is
    /// `line`; nil when the line has the shape of none of them. Detection asks for evidence,
    /// the shape of a line of the format, not just any words:
    ///
    /// - JSON Lines: the line starts with `{`.
    /// - A kernel trace: `TASK-PID [CPU] [FLAGS] SECONDS.MICROS: EVENT:` (tracefs, trace-cmd
    ///   report), or trace-cmd report's own first lines, exactly `cpus=N` or `version = N`.
    /// - A QEMU trace log: `PID@SECONDS.MICROS:event …` (the `log` backend with timestamps),
    ///   or, without them, `event …` where the event name is a QEMU trace event's, lower case
    ///   letters, digits and `_`, starting with a letter and holding at least one `_`
    ///   (`kvm_set_user_memory`, `kvm_convert_memory`, `kvm_memory_fault`, …).
    ///
    /// Prose ("Notes from the run", a README) fits none of these and is refused.
    public static func detect(line: Substring) -> InputFormat? {
        var text = line.drop(while: { $0 == " " || $0 == "\t" })
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        if text.hasPrefix("{") { return .jsonl }
        if let count = text.dropPrefix("cpus="), TraceNumber.decimal(count) != nil { return .ftrace }
        if let version = text.dropPrefix("version = "), TraceNumber.decimal(version) != nil { return .ftrace }
        if FtraceReader.splitHeader(line) != nil { return .ftrace }
        if let prefix = QemuTraceReader.timestampPrefix(text), isEventName(text[prefix.end...].prefix(while: { $0 != " " }), plain: false) {
            return .qemu
        }
        if isEventName(text.prefix(while: { $0 != " " }), plain: true) { return .qemu }
        return nil
    }

    /// A QEMU trace event's name. Without a timestamp (`plain`) the name is the only evidence,
    /// so it must look like one: lower case, starting with a letter, with a `_`.
    static func isEventName(_ name: Substring, plain: Bool) -> Bool {
        guard let first = name.utf8.first else { return false }
        if !plain { return name.utf8.allSatisfy { $0 == 0x5F || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) } }
        return (0x61...0x7A).contains(first) && name.utf8.contains(0x5F)
            && name.utf8.allSatisfy { $0 == 0x5F || (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) }
    }
}

extension Substring {
    fileprivate func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}

extension InputFormat {
    /// The format of the regular file at `path`, from its first line that is neither empty nor
    /// a `#` comment; nil for an empty file, a first line of no format's shape, and for
    /// anything that is not a regular file (standard input, a pipe, a FIFO, a process
    /// substitution): reading a stream here would take its start away from the ingest, so a
    /// stream's format is detected by `IngestSource` on the lines the ingest reads.
    public static func detect(path: String) throws(StoreError) -> InputFormat? {
        guard path != "-" else { return nil }
        let reader = try LineReader(path: path)
        guard reader.isRegularFile else { return nil }
        do { try reader.peek() } catch let error as StoreError { throw error } catch { throw .unreadableInput(path: path, reason: "\(error)") }
        if reader.isTraceDat { return .traceDat }
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
