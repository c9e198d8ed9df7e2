/// The lines by which a kernel trace says it lost events (EVENTS.md §2 `gap`, docs/TRACES.md):
/// each becomes a `gap` record, so the hole is stored as evidence and audited (GM-R15).
///
/// - tracefs (`trace`, `trace_pipe`): `CPU:%d [LOST %lu EVENTS]`, printed by the kernel's
///   `print_trace_line()` before the first event read after a per-CPU ring buffer overran.
/// - `trace-cmd report`: `CPU:%d [%lld EVENTS DROPPED]`, or `CPU:%d [EVENTS DROPPED]` when the
///   buffer page says events were missed but not how many (`record->missed_events` < 0).
/// - the `trace` file's header `# entries-in-buffer/entries-written: E/W   #P:N`: when W > E,
///   W − E events were overwritten before the oldest one shown (`ring_buffer_overrun_cpu()`).
extension FtraceReader {
    /// The gap a line reports, as a record without a time (the line carries none: it stands
    /// where the reader noticed the loss), or nil when the line reports no loss.
    static func gapRecord(_ trimmed: Substring, text: String, file: String, number: UInt64) -> TraceRecord? {
        func record(_ source: String, _ lost: UInt64?) -> TraceRecord {
            TraceRecord(
                tracepoint: "[LOST EVENTS]", ts: nil, kind: .gap(source: source, lost: lost),
                source: EventSource(file: file, line: number, text: text))
        }
        if trimmed.hasPrefix("#") {
            // "# entries-in-buffer/entries-written: 140080/250880   #P:4"
            let marker = "entries-in-buffer/entries-written:"
            guard let range = trimmed.range(of: marker) else { return nil }
            let counts = trimmed[range.upperBound...].drop(while: { $0 == " " }).prefix(while: { $0 != " " && $0 != "\t" })
            let parts = counts.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let entries = TraceNumber.decimal(parts[0]), let written = TraceNumber.decimal(parts[1]),
                written > entries
            else { return nil }
            return record("ftrace ring buffer (overwritten before the first line)", written - entries)
        }
        guard trimmed.hasPrefix("CPU:") else { return nil }
        let afterCPU = trimmed.dropFirst(4)
        let cpuDigits = afterCPU.prefix(while: { $0.isASCII && $0.isNumber })
        guard let cpu = TraceNumber.decimal(cpuDigits) else { return nil }
        let rest = afterCPU.dropFirst(cpuDigits.count).drop(while: { $0 == " " })
        let source = "ftrace cpu \(cpu)"
        if rest.hasPrefix("[LOST "), rest.hasSuffix(" EVENTS]") {
            let count = rest.dropFirst("[LOST ".count).dropLast(" EVENTS]".count)
            return record(source, TraceNumber.decimal(count))
        }
        if rest == "[EVENTS DROPPED]" { return record(source, nil) }
        if rest.hasPrefix("["), rest.hasSuffix(" EVENTS DROPPED]") {
            let count = rest.dropFirst().dropLast(" EVENTS DROPPED]".count)
            return record(source, TraceNumber.decimal(count))
        }
        return nil
    }
}
