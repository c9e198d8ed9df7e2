/// How `export` writes the log.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// The stored canonical bodies, one a line: ingesting them into an empty store gives the
    /// same events, hashes, verdicts and state.
    case jsonl
    /// One row per event with the fields people filter on, for spreadsheets.
    case csv
}

/// Streams the log out of a store in seq order, one event at a time (constant memory).
public struct Exporter {
    public let store: Store

    public init(store: Store) {
        self.store = store
    }

    /// The CSV columns: where the event was stored, then the event's own fields.
    public static let csvColumns = [
        "seq", "ts", "ts_ns", "op", "host", "actor", "vm", "gmem", "offset", "gpa", "size", "pfn", "npages", "to",
        "holder", "reason", "result", "error_offset", "expected", "diverged", "note", "hash",
    ]

    /// Writes the events with seq in `range` to `output`; calls `progress` with the seq reached
    /// every 65536 events.
    public func write(_ format: ExportFormat, seqs range: ClosedRange<Int64>, to output: inout some TextOutputStream, progress: ((Int64) -> Void)? = nil) throws {
        if format == .csv { output.write(Self.csvColumns.joined(separator: ",") + "\n") }
        var line = ""
        try store.forEachEvent(in: range) { stored in
            switch format {
            case .jsonl:
                output.write(stored.body)
                output.write("\n")
            case .csv:
                line.removeAll(keepingCapacity: true)
                try csvRow(stored, into: &line)
                output.write(line)
            }
            if let progress, stored.seq % 65_536 == 0 { progress(stored.seq) }
            return true
        }
    }

    private func csvRow(_ stored: Store.StoredEvent, into line: inout String) throws {
        guard case .object(let members) = try JSONParser.parse(stored.body) else {
            throw StoreError.decode(file: "event", line: UInt64(stored.seq), message: "stored body is not a JSON object")
        }
        var fields: [String: String] = [:]
        for member in members {
            switch member.value {
            case .string(let text): fields[member.key] = text
            case .number(let text): fields[member.key] = text
            case .bool(let flag): fields[member.key] = flag ? "true" : "false"
            case .null: break
            default: fields[member.key] = JSONWriter.string(member.value)
            }
        }
        fields["seq"] = String(stored.seq)
        if let ns = fields["ts"], let value = Int64(ns) {
            fields["ts_ns"] = ns
            fields["ts"] = Timestamp.format(value)
        }
        fields["expected"] = stored.expected ?? ""
        fields["diverged"] = stored.diverged ? "true" : "false"
        fields["hash"] = HashChain.hex(stored.hash)
        for (index, column) in Self.csvColumns.enumerated() {
            if index > 0 { line += "," }
            line += StateReport.csvField(fields[column] ?? "")
        }
        line += "\n"
    }
}
