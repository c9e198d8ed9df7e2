import Synchronization

/// One input of an ingest: a file (or standard input) read line by line in one format, in
/// constant memory. JSON Lines give events; traces give records, which `TraceResolver` places
/// against the state only when the merge reaches them.
public final class IngestSource {
    /// What the source gives next.
    public enum Item {
        case event(Event)
        case record(TraceRecord)

        /// The item's time, when it has one.
        public var ts: Int64? {
            switch self {
            case .event(let event): event.ts
            case .record(let record): record.ts
            }
        }
    }

    /// The name events are kept under (`src.file`): the path as given, `<stdin>` for `-`.
    public var name: String { reader.name }
    /// The format, as given or as detected from the first line (nil until then for `auto`).
    public private(set) var format: InputFormat?
    /// Trace lines skipped, by event name.
    public private(set) var skipped = SkippedLines()
    /// Trace lines read as records.
    public private(set) var records = 0
    /// The SHA-256 of every byte read so far.
    public var contentHash: [UInt8] { reader.contentHash }

    /// The bytes and lines read so far.
    public var bytesRead: UInt64 { reader.bytesRead }
    /// Lines read; for a trace.dat, records read (an event's `src.line` is its record's number).
    public var linesRead: UInt64 { traceDat?.recordsRead ?? reader.lineNumber }

    let reader: LineReader
    /// True while a thread of its own reads the input ahead (`PrefetchedSource`).
    var isReadAhead: Bool { readingAhead.load(ordering: .acquiring) }
    let readingAhead = Atomic<Bool>(false)
    /// The trace.dat reader, once the input was found to be one.
    private var traceDat: TraceDatReader?
    /// The stored input (`input` table) its bytes go to, once its batch has started.
    var input: Int64?
    let quarantine: Bool
    let addsSource: Bool

    /// Opens `path` (`-` is standard input) in `format`, or detects it when nil. The input is
    /// opened once: detection reads the same lines that ingest then takes, so a pipe, a FIFO
    /// or a process substitution loses nothing.
    public convenience init(path: String, format: InputFormat?, quarantine: Bool = false, addsSource: Bool = true) throws(StoreError) {
        self.init(reader: try LineReader(path: path), format: format, quarantine: quarantine, addsSource: addsSource)
    }

    /// Reads `reader` (an embedded or in-memory input) in `format`.
    public init(reader: LineReader, format: InputFormat?, quarantine: Bool = false, addsSource: Bool = true) {
        self.reader = reader
        self.format = format
        self.quarantine = quarantine
        self.addsSource = addsSource
        // Lines past the limit are refused (JSON Lines, or before the format is known) or
        // skipped and counted (traces) here, by format.
        reader.refusesLongLines = false
    }

    /// The SHA-256 of the whole input when it is a regular file not yet read (see
    /// `LineReader.hashOfWholeFile`), else nil.
    public func hashOfWholeFile() throws(StoreError) -> [UInt8]? { try reader.hashOfWholeFile() }

    /// The size of the whole input when it is a regular file not yet read, else nil.
    public func sizeOfWholeFile() -> Int64? { reader.sizeOfWholeFile() }

    /// The name under which trace lines longer than the line limit are counted.
    var longLineName: String { "(line longer than \(LineReader.sizeText(reader.maxLineLength)))" }

    /// The next item, or nil at the end of the input. Undecodable JSON Lines throw (or, with
    /// quarantine, go to `writer`'s reject table); trace lines never throw, they are skipped
    /// and counted.
    public func next(writer: Store.BatchWriter) throws -> Item? {
        try next(rejects: writer)
    }

    /// `next(writer:)`, keeping quarantined lines through `rejects`: the batch writer, or a
    /// prefetch that hands them over in order (`PrefetchedSource`).
    func next(rejects writer: some RejectSink) throws -> Item? {
        if format == nil || format == .ftrace || format == .traceDat {
            try reader.peek()
            if reader.isTraceDat, traceDat == nil {
                format = .traceDat
                traceDat = try TraceDatReader(descriptor: try reader.traceDatDescriptor(), name: name)
            } else if format == .traceDat, !reader.isTraceDat {
                throw StoreError.decode(file: name, line: 1, message: "not a trace.dat: it does not start with trace-cmd's magic \\x17\\x08\\x44tracing")
            }
        }
        if let traceDat {
            while let reading = try traceDat.next() {
                if let item = take(reading) { return item }
            }
            return nil
        }
        var item: Item?
        while item == nil {
            let more = try reader.next { bytes in
                item = try read(bytes, writer: writer)
            }
            if !more { return nil }
        }
        return item
    }

    private func read(_ bytes: UnsafeBufferPointer<UInt8>, writer: some RejectSink) throws -> Item? {
        if format == nil {
            if reader.lineWasCut { throw reader.longLine() }
            let text = String(decoding: bytes, as: UTF8.self)
            let trimmed = text.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.isEmpty || trimmed.hasPrefix("#") { return nil }
            guard let detected = InputFormat.detect(line: Substring(text)) else {
                throw StoreError.decode(
                    file: name, line: reader.lineNumber,
                    message: "not the shape of any input format: not a JSON object (JSON Lines), not `TASK-PID [CPU] … SECONDS: EVENT:` "
                        + "(a kernel trace), not `PID@SECONDS.MICROS:event …` or `event_name …` (a QEMU trace log); "
                        + "if it is one of them, pass --format")
            }
            format = detected
        }
        if reader.lineWasCut {
            guard format == .jsonl else {
                skipped.add(longLineName)
                return nil
            }
            guard quarantine else { throw reader.longLine() }
            try writer.reject(
                source: reader.name, line: reader.lineNumber, text: String(decoding: bytes.prefix(256), as: UTF8.self) + "…",
                reason: reader.longLineMessage)
            return nil
        }
        if format != .jsonl, !reader.lineWasTerminated {
            // A trace line the input ends inside: its last number may be cut short.
            skipped.add("(unterminated last line)")
            return nil
        }
        switch format! {
        case .jsonl:
            return try JSONLIngest(quarantine: quarantine, addsSource: addsSource).decode(bytes, reader: reader, writer: writer).map(Item.event)
        case .ftrace:
            // A stored input keeps the line itself: the record need not (`MergeIngest.stored`).
            return take(FtraceReader.read(bytes: bytes, file: name, number: reader.lineNumber, keepsText: input == nil))
        case .qemu:
            return take(QemuTraceReader.read(bytes: bytes, file: name, number: reader.lineNumber))
        case .traceDat:
            preconditionFailure("a trace.dat is read by TraceDatReader, not as lines")
        }
    }

    private func take(_ reading: TraceLineReading) -> Item? {
        switch reading {
        case .record(let record):
            records += 1
            return .record(record)
        case .skipped(let name):
            skipped.add(name)
            return nil
        case .ignored:
            return nil
        }
    }
}

/// Where quarantined lines go (`--quarantine`): the batch's reject table.
protocol RejectSink {
    /// Keeps an undecodable line.
    func reject(source: String, line: UInt64, text: String, reason: String) throws
}

extension Store.BatchWriter: RejectSink {}
