import GmemStore

/// The fast reader target: one hostile input through the readers alone, in memory, with no
/// store: the line reader, format detection, the JSON Lines decoders (the fast path and the
/// general one), the kernel-trace and QEMU readers, the trace resolver, and the engine that
/// gives the resolver its state. Tens of thousands of inputs a second, where the end-to-end
/// target (`ReaderHarness`, a store and `verify` per input) does a hundred or two.
///
/// An input may be refused, never crash the process; the harness traps (a fuzzer finding)
/// when a promise of the readers is broken:
///
/// - the line reader hands out every byte once: at the end of the input it has read exactly
///   the input's bytes, in as many lines as the input has line breaks (plus an unterminated
///   last line), numbered from 1;
/// - the fast JSON Lines path accepts only lines the general decoder accepts, and decodes them
///   to the same event;
/// - every event ingest would store (decoded from JSON Lines or resolved from a trace record)
///   has a canonical JSON that reads back to the same canonical JSON, which is what `verify`
///   checks of every stored body;
/// - a trace record names the input and the line it came from.
public enum ReaderFastHarness {
    /// The longest line this target reads (the ingest limit is far beyond what a fuzzer's
    /// inputs reach): a longer line refuses the input, as a line past the ingest limit does.
    /// scripts/fuzz.sh gives the fast target inputs up to twice this long, so that the fuzzer
    /// reaches it; every seed line is shorter.
    public static let lineLimit = 1024

    static let name = "fuzz-input"

    /// Reads `bytes` as one input in `format` (nil: detect it, as `--format auto`). Inputs of
    /// odd length are read with `--quarantine` (a JSON Line that does not decode is kept aside
    /// and reading goes on); inputs whose length is a multiple of 3 are read with `--vm fuzz`.
    public static func run(_ bytes: UnsafeRawBufferPointer, format given: InputFormat?) {
        let contents = Array(bytes)
        let quarantine = contents.count % 2 == 1
        let reader = LineReader(name: name, contents: contents)
        var format = given
        var resolver = TraceResolver(vm: contents.count % 3 == 0 ? "fuzz" : nil)
        var engine = Engine()
        var refused = false
        var lines: UInt64 = 0

        func store(_ event: Event) {
            // What ingest stores is the canonical form, and what verify checks is that it reads
            // back to itself (the same bytes; extra fields come back sorted, so not the same array).
            let canonical = event.canonicalJSON
            var canonicalText = canonical
            let read: Event
            if let fast = canonicalText.withUTF8({ EventLineDecoder.decode($0) }) {
                read = fast
            } else {
                do {
                    read = try Event(jsonLine: canonical)
                } catch {
                    fatalError("harness: the canonical form of an event does not decode (\(error)): \(canonical)")
                }
            }
            // The same event writes the same bytes; only a different one needs writing again.
            guard read == event || read.canonicalJSON == canonical else {
                fatalError("harness: an event's canonical form reads back as another: \(canonical) became \(read.canonicalJSON)")
            }
            _ = engine.apply(event)
        }

        func jsonLine(_ line: UnsafeBufferPointer<UInt8>, number: UInt64) {
            var start = 0
            while start < line.count, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
            if start == line.count || line[start] == UInt8(ascii: "#") { return }
            let general: Event?
            do {
                general = try Event(json: try JSONParser.parse(line))
            } catch {
                general = nil
            }
            if let fast = EventLineDecoder.decode(line) {
                guard let general else { fatalError("harness: the fast path accepted a line the general decoder refuses") }
                guard general == fast else { fatalError("harness: the fast path and the general decoder read a line differently") }
            }
            guard var event = general else {
                if !quarantine { refused = true }
                return
            }
            if event.source == nil { event.source = EventSource(file: name, line: number) }
            store(event)
        }

        func traceLine(_ reading: TraceLineReading, number: UInt64) {
            guard case .record(let record) = reading else { return }
            guard record.source.file == name, record.source.line == number else {
                fatalError("harness: a trace record names \(record.source.file):\(String(describing: record.source.line)), not \(name):\(number)")
            }
            for event in resolver.events(for: record, in: engine.state) { store(event) }
        }

        do {
            while !refused, try reader.next({ line in
                lines += 1
                guard reader.lineNumber == lines else { fatalError("harness: line \(lines) is numbered \(reader.lineNumber)") }
                guard line.count <= lineLimit else {
                    refused = true
                    return
                }
                if format == nil {
                    let text = String(decoding: line, as: UTF8.self)
                    let trimmed = text.drop(while: { $0 == " " || $0 == "\t" })
                    if trimmed.isEmpty || trimmed.hasPrefix("#") { return }
                    guard let detected = InputFormat.detect(line: Substring(text)) else {
                        refused = true
                        return
                    }
                    format = detected
                }
                switch format! {
                case .jsonl:
                    jsonLine(line, number: lines)
                case .ftrace, .qemu:
                    // A trace line the input ends inside is skipped: its last number may be cut short.
                    guard reader.lineWasTerminated else { return }
                    let text = String(decoding: line, as: UTF8.self)
                    traceLine(
                        format == .ftrace ? FtraceReader.read(text, file: name, number: lines) : QemuTraceReader.read(text, file: name, number: lines),
                        number: lines)
                case .traceDat:
                    // Line detection never answers trace.dat: it is told by its magic, and read by libtracecmd.
                    return
                }
            }) {}
        } catch {
            // A compressed input (gzip or zstd magic) that does not decompress is refused with
            // an error: that is the reader's answer, not a failure. Plain text never throws.
            guard reader.compression != .none else { fatalError("harness: the line reader failed on an in-memory input: \(error)") }
            return
        }
        guard !refused, reader.compression == .none else { return }
        // Every byte read once, in as many lines as there are line ends — LF, CRLF (one end) or a
        // lone CR — and a last line without one.
        guard reader.bytesRead == UInt64(contents.count) else {
            fatalError("harness: \(reader.bytesRead) bytes read of \(contents.count)")
        }
        var breaks: UInt64 = 0
        for (index, byte) in contents.enumerated() {
            if byte == 0x0A || (byte == 0x0D && (index + 1 == contents.count || contents[index + 1] != 0x0A)) { breaks += 1 }
        }
        let expected = breaks + (contents.last.map { $0 == 0x0A || $0 == 0x0D ? 0 : 1 } ?? 0)
        guard lines == expected else { fatalError("harness: \(lines) lines read from an input of \(expected)") }
    }
}
