/// Reads JSON Lines (EVENTS.md §2) into a batch: one event per line; empty lines and lines
/// starting with `#` are skipped. A line that does not decode rejects the whole batch with
/// `file:line: what is wrong`, unless `quarantine` keeps it in the reject table instead.
public struct JSONLIngest {
    public var quarantine = false
    /// False to store each event exactly as written, without naming the input as its `src`
    /// (re-ingesting an `export`, whose events already carry theirs or never had one).
    public var addsSource = true
    /// Called every 16384 lines with the bytes and lines read so far.
    public var progress: ((UInt64, UInt64) -> Void)?
    /// The kernel profile written into each `vm_create` that names none (`ingest --kernel`);
    /// nil stores them as written (the default when re-ingesting an export verbatim).
    public var kernel: KernelProfile? = .standard

    public init(quarantine: Bool = false, addsSource: Bool = true) {
        self.quarantine = quarantine
        self.addsSource = addsSource
        self.kernel = addsSource ? .standard : nil
    }

    /// Ingests one file (or `-`) as one batch.
    public func ingest(path: String, into store: Store) throws -> Store.BatchSummary {
        let reader = try LineReader(path: path)
        return try store.ingestOnce(source: reader.name, format: "jsonl", readAs: "format=jsonl" + (kernel.map { " kernel=" + $0.rawValue } ?? "") + (addsSource ? "" : " verbatim")) { writer in
            try read(reader, into: writer, input: try writer.storeInput(named: reader.name, reader: reader))
            return reader.contentHash
        }
    }

    /// Appends every event of `reader` to `writer`; `input` is the stored input it is read into.
    public func read(_ reader: LineReader, into writer: Store.BatchWriter, input: Int64? = nil) throws {
        while try reader.next({ bytes in
            guard let event = try decode(bytes, reader: reader, writer: writer) else { return }
            do {
                try writer.append(kernel.map { event.namingKernel($0) } ?? event, at: input.map { Store.InputPosition(input: $0, line: reader.lineNumber) })
            } catch let refused as RetractionError {
                // A `retract` line that cannot stand in this log: refused like a line that does not decode.
                throw StoreError.decode(file: reader.name, line: reader.lineNumber, message: refused.description)
            }
            if let progress, reader.lineNumber % 16_384 == 0 { progress(reader.bytesRead, reader.lineNumber) }
        }) {}
    }

    /// Decodes one line: nil for a skipped or quarantined line.
    func decode(_ bytes: UnsafeBufferPointer<UInt8>, reader: LineReader, writer: some RejectSink) throws -> Event? {
        do throws(EventDecodingError) {
            guard var event = try Self.event(of: bytes) else { return nil }
            if addsSource, event.source == nil { event.source = EventSource(file: reader.name, line: reader.lineNumber) }
            return event
        } catch {
            if quarantine {
                try writer.reject(
                    source: reader.name, line: reader.lineNumber, text: String(decoding: bytes, as: UTF8.self),
                    reason: error.description)
                return nil
            }
            throw StoreError.decode(file: reader.name, line: reader.lineNumber, message: error.description)
        }
    }

    /// The event of one JSON line (EVENTS.md §2): nil for an empty line or a `#` comment. The
    /// fast decoder takes the lines it knows; the general one decides the rest and says what is
    /// wrong. Shared by `ingest` and `watch`.
    public static func event(of bytes: UnsafeBufferPointer<UInt8>) throws(EventDecodingError) -> Event? {
        var start = 0
        while start < bytes.count, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        if start == bytes.count || bytes[start] == UInt8(ascii: "#") { return nil }
        if let event = EventLineDecoder.decode(bytes) { return event }
        let value: JSONValue
        do throws(JSONSyntaxError) {
            value = try JSONParser.parse(bytes)
        } catch {
            throw EventDecodingError(field: nil, "not valid JSON at column \(error.column): \(error.message)")
        }
        return try Event(json: value)
    }
}
