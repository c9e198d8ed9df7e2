import Crypto

/// One followed input inside a `WatchSession`: its lines decoded into items as they arrive, the
/// items waiting for the merge, and what of it is committed (the checkpoint).
final class LiveSource {
    /// A line read and decoded, waiting to be appended.
    struct Item {
        enum Content {
            /// A line that gives nothing: empty, a comment, a trace line skipped and counted.
            case nothing
            case event(Event)
            case record(TraceRecord)
            /// The input left its file for a new one (rotation, truncation): lines after it are
            /// the new file's.
            case newFile(device: UInt64, inode: UInt64)
        }

        var content: Content
        /// The merge key: the item's `ts`, else the key before it in this source.
        var key: Int64
        var line: UInt64
        var raw: [UInt8]
        /// Monotonic nanoseconds when it was read.
        var arrival: UInt64
    }

    let input: FollowedInput
    /// The format, detected from the first line that is neither empty nor a comment.
    var format: InputFormat?
    var queue: [Item] = []
    var head = 0
    /// The key of the last item read.
    var lastKey = Int64.min
    /// The largest key appended from this source.
    var emittedMax = Int64.min

    // What is committed: the checkpoint.
    var committedOffset: UInt64 = 0
    var committedLine: UInt64 = 0
    var committedDevice: UInt64 = 0
    var committedInode: UInt64 = 0
    /// The SHA-256 of the current file's bytes from its start to `committedOffset`.
    var hasher = SHA256()
    var lastLineHash: [UInt8] = []

    // Counts for the summary.
    var skipped = SkippedLines()
    var lines: UInt64 = 0
    var late = 0

    init(input: FollowedInput, format: InputFormat?) {
        self.input = input
        self.format = format
        committedDevice = input.device
        committedInode = input.inode
        input.onNewFile = { [unowned self] input in
            queue.append(Item(content: .newFile(device: input.device, inode: input.inode), key: lastKey, line: 0, raw: [], arrival: input.lastArrival))
        }
    }

    var name: String { input.name }
    var pending: Int { queue.count - head }
    var next: Item? { head < queue.count ? queue[head] : nil }

    func pop() -> Item {
        let item = queue[head]
        head += 1
        if head > 4096, head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
        return item
    }

    /// Decodes `line` and queues it. A JSON line that does not decode throws `file:line: …`.
    func take(_ line: FollowedInput.Line, arrival: UInt64) throws {
        lines += 1
        let content = try line.raw.withUnsafeBufferPointer { buffer in
            try decode(UnsafeBufferPointer(rebasing: buffer[..<(buffer.count - line.terminatorLength)]), number: line.number)
        }
        var key = lastKey
        switch content {
        case .event(let event): key = event.ts ?? lastKey
        case .record(let record): key = record.ts ?? lastKey
        default: break
        }
        lastKey = key
        queue.append(Item(content: content, key: key, line: line.number, raw: line.raw, arrival: arrival))
    }

    private func decode(_ bytes: UnsafeBufferPointer<UInt8>, number: UInt64) throws -> Item.Content {
        if format == nil {
            let text = String(decoding: bytes, as: UTF8.self)
            let trimmed = text.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.isEmpty || trimmed.hasPrefix("#") { return .nothing }
            guard let detected = InputFormat.detect(line: Substring(text)) else {
                throw StoreError.decode(
                    file: name, line: number,
                    message: "not the shape of any input format: not a JSON object (JSON Lines), not `TASK-PID [CPU] … SECONDS: EVENT:` "
                        + "(a kernel trace), not `PID@SECONDS.MICROS:event …` or `event_name …` (a QEMU trace log)")
            }
            format = detected
        }
        switch format! {
        case .jsonl:
            var event: Event
            do throws(EventDecodingError) {
                guard let decoded = try JSONLIngest.event(of: bytes) else { return .nothing }
                event = decoded
            } catch {
                throw StoreError.decode(file: name, line: number, message: error.description)
            }
            if event.source == nil { event.source = EventSource(file: name, line: number) }
            return .event(event)
        case .ftrace:
            return take(FtraceReader.read(String(decoding: bytes, as: UTF8.self), file: name, number: number))
        case .qemu:
            return take(QemuTraceReader.read(String(decoding: bytes, as: UTF8.self), file: name, number: number))
        case .traceDat:
            throw StoreError.decode(
                file: name, line: number,
                message: "a trace.dat is a finished binary file, not lines to follow: `gmem-audit ingest` it (watch follows text traces, trace_pipe and JSON Lines)")
        }
    }

    private func take(_ reading: TraceLineReading) -> Item.Content {
        switch reading {
        case .record(let record): return .record(record)
        case .skipped(let name):
            skipped.add(name)
            return .nothing
        case .ignored: return .nothing
        }
    }

    /// Records that `item` was appended: the checkpoint moves past its line.
    func committed(_ item: Item) {
        if case .newFile(let device, let inode) = item.content {
            committedDevice = device
            committedInode = inode
            committedOffset = 0
            committedLine = 0
            hasher = SHA256()
            lastLineHash = []
            return
        }
        hasher.update(data: item.raw)
        committedOffset += UInt64(item.raw.count)
        committedLine = item.line
        lastLineHash = Array(SHA256.hash(data: item.raw))
    }
}
