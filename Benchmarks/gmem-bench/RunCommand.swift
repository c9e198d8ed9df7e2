import ArgumentParser
import GmemStore
#if canImport(Glibc)
import Glibc
#endif

/// Every figure of issue 11 on one generated log and one kernel trace, each divided by a raw
/// baseline fixed by the input alone (B1–B4, see `RawSQLite`) and measured in the same run,
/// right before the figure it divides.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Measure every figure and print each with its raw baseline, ratio and target."
    )

    @OptionGroup var log: LogOptions
    @Option(help: "Events generated after the log for the append figure: each its own durable `Store.append` onto a store holding the log (and each raw row its own transaction).")
    var appends: Int = 2000
    @Option(name: .customLong("trace-mib"), help: "Size of the kernel trace made by scripts/make-big-trace.sh, in MiB.")
    var traceMiB: Int = 100
    @Option(name: .customLong("trace-dir"), help: "Use the big.trace and big.jsonl that scripts/make-big-trace.sh left in this directory instead of making them.")
    var traceDir: String?
    @Option(name: .customLong("trace-script"), help: "The path of scripts/make-big-trace.sh (default: found above the current directory or the executable).")
    var traceScript: String?
    @Option(name: .customLong("memory-events"), help: "Also measure the peak-RSS figure here on this many events of a 1 TiB guest (0: leave it to `gmem-bench memory`).")
    var memoryEvents: Int = 0
    @Option(help: "How many `state --at` and `history` queries to time (information only).")
    var queries: Int = 20
    @Option(help: "Conversions for the run-memory line (a 1 TiB gmem; information only).")
    var conversions: Int = 100_000
    @Flag(help: "Print the results as one JSON object instead of a table.")
    var json = false
    @Option(name: .customLong("json-file"), help: "Also write the results as one JSON object to this file.")
    var jsonFile: String?

    func validate() throws {
        guard appends > 0 else { throw ValidationError("--appends must be at least 1") }
        guard traceMiB > 0 else { throw ValidationError("--trace-mib must be at least 1") }
        guard memoryEvents >= 0 else { throw ValidationError("--memory-events must not be negative") }
        guard queries > 0 else { throw ValidationError("--queries must be at least 1") }
    }

    func run() throws {
        let directory = try log.workingDirectory()
        defer { log.cleanUp(directory) }
        let jsonlPath = directory + "/log.jsonl"
        var results = Results(command: "run")

        let tailPath = directory + "/tail.jsonl"
        progress("generating \(log.events) events into \(jsonlPath) and the \(appends) after them into \(tailPath)")
        // `var` only so that the engine-alone line lends each event in place (`judge(_:_:)`).
        var events: [Event]
        let tail: [Event]
        (events, tail) = try generate(into: jsonlPath, tail: tailPath)
        let count = events.count
        let inputBytes = try MappedFile(path: jsonlPath).bytes.count
        let pragmas = try GmemPragmas.read(scratch: directory + "/pragmas.db")
        let trace: TraceInput
        if let traceDir {
            trace = try TraceInput.existing(in: traceDir)
        } else {
            progress("making a \(traceMiB) MiB kernel trace with scripts/make-big-trace.sh")
            let traceDirectory = directory + "/trace"
            guard mkdir(traceDirectory, 0o755) == 0 || errno == EEXIST else { throw BenchError("\(traceDirectory): cannot create: \(String(cString: strerror(errno)))") }
            trace = try TraceInput.make(mebibytes: traceMiB, in: traceDirectory, script: traceScript)
        }
        results.context = [
            ("log", .string("\(count) generated events (JSON Lines, \(bytesText(inputBytes)), \(inputBytes / count) bytes per line), \(log.vms) VMs, gmem size \(hex(log.gmemSize.value)), seed \(log.seed)")),
            ("events", .number("\(count)")), ("input_bytes", .number("\(inputBytes)")),
            ("trace", .string("\(trace.trace) + \(trace.jsonl)")),
            ("gmem_pragmas", .string(pragmas.summary)),
            ("baselines", .string("one row per input line in raw(seq INTEGER PRIMARY KEY, ts INTEGER, line TEXT) with gmem's pragmas; every ingest one transaction")),
        ]
        var rows: [Row] = []

        // (1) JSON Lines ingest ÷ B1.
        let rawPath = directory + "/raw.db"
        try RawSQLite.create(rawPath, pragmas: pragmas)
        progress("B1: raw insert of the JSON Lines")
        let (inserted, b1Seconds) = try seconds { try RawSQLite.insertLines(of: [(jsonlPath, .json)], into: rawPath, pragmas: pragmas) }
        guard inserted.rows == count else { throw BenchError("B1 inserted \(inserted.rows) rows for \(count) lines") }
        let b1 = Row.rate(id: "b1_raw_insert", kind: .baseline, name: "B1 raw insert: the JSON Lines, one row per line", items: count, seconds: b1Seconds)
        progress("gmem ingest of the JSON Lines")
        let storePath = directory + "/jsonl.db"
        let ingested = try ingest([(jsonlPath, .jsonl)], into: storePath)
        guard ingested.summary.batch.added == count else { throw BenchError("the JSON Lines ingest added \(ingested.summary.batch.added) events of \(count)") }
        progress("the C API inserting gmem's event rows")
        let eventRows = try EventRowsInsert(readingStore: storePath)
        let eventRowsPath = directory + "/event-rows.db"
        try eventRows.create(eventRowsPath, pragmas: pragmas)
        let (insertedRows, insertSeconds) = try seconds { try eventRows.insert(into: eventRowsPath, pragmas: pragmas) }
        guard insertedRows == count else { throw BenchError("the C insert of \(storePath)'s event rows wrote \(insertedRows) rows of \(count)") }
        removeStore(eventRowsPath)
        rows += [
            b1,
            Row.rate(
                id: "jsonl_ingest", kind: .figure, name: "JSON Lines ingest, end to end", items: count, seconds: ingested.seconds, baseline: b1,
                target: .ratioAtLeast(0.5), note: "\(String(format2: insertSeconds / ingested.seconds))× the C insert of the same event rows below"),
            Row.rate(
                id: "event_rows_c_insert", kind: .info, name: "the C API inserting gmem's event rows alone, one transaction (this schema's floor for an ingest)",
                items: count, seconds: insertSeconds, baseline: b1),
        ]

        // (4) Bytes on disk per event, before anything but the ingest wrote to the store.
        let storeBytes = try RawSQLite.bytesOnDisk(storePath)
        let rawBytes = try RawSQLite.bytesOnDisk(rawPath)
        let rawPerEvent = Row(id: "b1_bytes_per_event", kind: .baseline, name: "B1's file on disk", value: Double(rawBytes) / Double(count), unit: .bytesPerEvent, note: "input \(String(format2: Double(inputBytes) / Double(count))) B/event")
        rows += [rawPerEvent, Row(
            id: "bytes_per_event", kind: .figure, name: "bytes on disk per event (every table and index, after a checkpoint)",
            value: Double(storeBytes) / Double(count), unit: .bytesPerEvent, baseline: rawPerEvent, target: .valueAtMost(150),
            note: "\(bytesText(storeBytes)) for \(count) events" + (count == 1_000_000 ? "" : "; the target is for 1M events"))]

        // Information: the engine alone, on events already in memory.
        progress("engine alone")
        let (expected, engineSeconds) = seconds {
            var engine = Engine()
            for index in events.indices { judge(&engine, &events[index]) }
            return engine
        }
        let engineRow = Row.rate(id: "engine", kind: .info, name: "engine alone: evaluate + commit, events in memory, no SQLite", items: count, seconds: engineSeconds)

        // (3) Reading the log back into events ÷ B2.
        progress("B2: raw scan")
        let (scanned, b2Seconds) = try seconds { try RawSQLite.scan(rawPath) }
        guard scanned.rows == count else { throw BenchError("B2 read \(scanned.rows) rows of \(count)") }
        let b2 = Row.rate(id: "b2_raw_scan", kind: .baseline, name: "B2 raw scan: SELECT seq, ts, line FROM raw", items: count, seconds: b2Seconds)
        let reader = try Store(path: storePath, access: .readOnly(immutable: false))
        progress("gmem read back into events")
        let (read, readSeconds) = try seconds { try ReadBack.events(reader) }
        guard read.events == count else { throw BenchError("reading the store back gave \(read.events) events of \(count)") }
        progress("the C API reading gmem's event rows")
        let (floor, floorSeconds) = try seconds { try RawSQLite.scanEventColumns(storePath) }
        guard floor.rows == count else { throw BenchError("the C scan of \(storePath) read \(floor.rows) rows of \(count)") }
        let readRate = Double(count) / readSeconds, floorRate = Double(count) / floorSeconds
        rows += [
            b2,
            Row.rate(
                id: "read_events", kind: .figure, name: "read the log back into events, no engine", items: count, seconds: readSeconds, baseline: b2,
                target: .ratioAtLeast(0.5), note: "\(String(format2: readRate / floorRate))× the C scan of the same rows below"),
            Row.rate(
                id: "event_rows_c_scan", kind: .info, name: "the C API stepping gmem's event rows, every column read (this schema's floor)",
                items: count, seconds: floorSeconds, baseline: b2),
        ]

        progress("gmem replay")
        let (replayed, replaySeconds) = try seconds { try Replay.full(reader) }
        guard replayed.state == expected.state else { throw BenchError("replaying \(storePath) gave another state than the engine on the generated events") }
        rows += [Row.rate(id: "replay", kind: .info, name: "replay: log → state with the engine, from seq 1", items: count, seconds: replaySeconds, baseline: b2), engineRow]

        progress("gmem audit")
        // The audit stores its findings, so it needs the store read-write.
        if let (result, auditSeconds) = try timedAudit(try Store(path: storePath, access: .readWrite)) {
            rows.append(Row.rate(id: "audit", kind: .info, name: "audit, all rules, from seq 1", items: result.events, seconds: auditSeconds, baseline: b2, note: "\(result.findings) findings"))
        }
        rows += try queryRows(reader, head: Int64(count), state: expected.state, replaySeconds: replaySeconds)

        progress("gmem ingest through the library API, one batch")
        let apiStore = try Store(path: directory + "/api.db", access: .readWrite)
        let (_, apiSeconds) = try seconds { try apiStore.append(contentsOf: events) }
        rows.append(Row.rate(id: "api_ingest", kind: .info, name: "library API ingest: Store.append(contentsOf:), events in memory", items: count, seconds: apiSeconds, baseline: b1))

        // (5) One durable append per call ÷ B3: a live producer after a bulk history, so both
        // go onto files that already hold the log (gmem's snapshots grow with its state).
        progress("B3: \(tail.count) raw inserts onto B1's file, one transaction each")
        let (durable, b3Seconds) = try seconds { try RawSQLite.insertDurably(linesOf: tailPath, into: rawPath, pragmas: pragmas) }
        guard durable == tail.count else { throw BenchError("B3 inserted \(durable) rows for \(tail.count) lines") }
        let b3 = Row.rate(
            id: "b3_raw_durable_insert", kind: .baseline, name: "B3 raw insert, one row per transaction, synchronous=FULL", items: durable, seconds: b3Seconds,
            note: "onto B1's \(count) rows; \(String(format3: b3Seconds * 1000 / Double(durable))) ms per row")
        progress("gmem: \(tail.count) appends onto the library API store, one call each")
        let (_, appendSeconds) = try seconds { for event in tail { try apiStore.append(event) } }
        // Both are bound by the disk's fsync; the difference per call is what gmem adds to it.
        let extra = (appendSeconds / Double(tail.count) - b3Seconds / Double(durable)) * 1000
        rows += [b3, Row.rate(
            id: "append", kind: .figure, name: "one durable Store.append per call", items: tail.count, seconds: appendSeconds, baseline: b3,
            target: .ratioAtLeast(0.5),
            note: "onto \(count) events; \(String(format3: appendSeconds * 1000 / Double(tail.count))) ms per call, \(String(format3: extra)) ms more than a raw row")]

        // (2) Kernel-trace text ingest ÷ B4.
        let traceRawPath = directory + "/trace-raw.db"
        try RawSQLite.create(traceRawPath, pragmas: pragmas)
        let traceInputs: [(String, RawSQLite.TimeFormat)] = [(trace.jsonl, .json), (trace.trace, .trace)]
        progress("B4: raw insert of the kernel trace's lines")
        let (traceRaw, b4Seconds) = try seconds { try RawSQLite.insertLines(of: traceInputs, into: traceRawPath, pragmas: pragmas) }
        let b4 = Row.rate(id: "b4_raw_insert_trace", kind: .baseline, name: "B4 raw insert: the kernel trace's lines, one row per line", items: traceRaw.bytes, seconds: b4Seconds, unit: .mebibytesPerSecond, note: "\(traceRaw.rows) lines")
        progress("gmem ingest of the kernel trace (--merge with its VMM log)")
        let traceIngest = try ingest([(trace.jsonl, .jsonl), (trace.trace, .ftrace)], into: directory + "/trace.db")
        rows += [b4, Row.rate(
            id: "trace_ingest", kind: .figure, name: "kernel-trace text ingest (make-big-trace.sh), end to end", items: traceRaw.bytes,
            seconds: traceIngest.seconds, unit: .mebibytesPerSecond, baseline: b4, target: .ratioAtLeast(0.4),
            note: "\(traceIngest.summary.batch.added) events")]

        // (6) Peak RSS replaying a long log of a 1 TiB guest, when asked for here.
        if memoryEvents > 0 {
            let memory = try MemoryOptions.parse(["--events", "\(memoryEvents)", "--seed", "\(log.seed)"])
            rows += try memory.measure(in: directory)
        }

        progress("peak memory of a replay of the JSON Lines store, in a child process")
        let child = try ReplayCommand.spawn(store: storePath)
        rows.append(Row(id: "replay_peak_rss_this_log", kind: .info, name: "peak RSS replaying this log (child process, VmHWM)", value: Double(child.peakBytes), unit: .bytes, note: "\(child.runs) runs in \(child.files) gmem files"))
        let runs = RunsMemory.measure(gmemSize: 1 << 40, conversions: conversions, seed: log.seed)
        rows.append(Row(id: "heap_per_run", kind: .info, name: "heap per run of a 1 TiB gmem after \(conversions) conversions", value: Double(runs.heapBytes / max(runs.runs, 1)), unit: .bytes, note: "\(runs.runs) runs"))

        results.rows = rows
        if memoryEvents == 0 { results.context.append(("peak_rss", .string("figure 6 (peak RSS replaying 10M events of a 1 TiB guest) is measured by `gmem-bench memory`, or here with --memory-events"))) }
        try results.printed(json: json, jsonFile: jsonFile)
    }

    /// Generates the log and the `appends` events after it: writes each as JSON Lines (the log
    /// to `path`, the rest to `tail`) and returns their events.
    private func generate(into path: String, tail: String) throws -> (log: [Event], tail: [Event]) {
        var configuration = log.configuration
        configuration.events += appends
        guard let logFile = fopen(path, "wb") else { throw BenchError("\(path): cannot create: \(String(cString: strerror(errno)))") }
        defer { fclose(logFile) }
        guard let tailFile = fopen(tail, "wb") else { throw BenchError("\(tail): cannot create: \(String(cString: strerror(errno)))") }
        defer { fclose(tailFile) }
        var events: [Event] = []
        events.reserveCapacity(log.events)
        var after: [Event] = []
        after.reserveCapacity(appends)
        for event in LogGenerator(configuration) {
            let file = events.count < log.events ? logFile : tailFile
            var text = event.canonicalJSON + "\n"
            text.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, file) }
            if events.count < log.events { events.append(event) } else { after.append(event) }
        }
        guard ferror(logFile) == 0, fflush(logFile) == 0 else { throw BenchError("\(path): write failed") }
        guard ferror(tailFile) == 0, fflush(tailFile) == 0 else { throw BenchError("\(tail): write failed") }
        guard events.count == log.events, after.count == appends else {
            throw BenchError("the generator made \(events.count + after.count) events, not \(log.events + appends)")
        }
        return (events, after)
    }

    /// `gmem-audit ingest --merge` of `inputs` into a new store at `path`, timed from the first
    /// byte read to the commit (the store's creation is outside, as the raw table's is). The
    /// store is closed on return.
    private func ingest(_ inputs: [(path: String, format: InputFormat?)], into path: String) throws -> (summary: MergeIngest.Summary, seconds: Double) {
        removeStore(path)
        let store = try Store(path: path, access: .readWrite)
        return try seconds { try MergeIngest().ingest(inputs, into: store) }
    }

    private func timedAudit(_ store: Store) throws -> ((events: Int, findings: Int), Double)? {
        let (result, elapsed) = try seconds { try AuditPhase.run(store: store) }
        return result.map { ($0, elapsed) }
    }

    /// Information: `state --at` at random points and `history` of one page, mean latencies.
    private func queryRows(_ store: Store, head: Int64, state: GmemState, replaySeconds: Double) throws -> [Row] {
        var random = SeededGenerator(seed: log.seed &+ 1)
        var stateTotal = 0.0
        var stateWorst = 0.0
        for _ in 0..<queries {
            let seq = 1 + Int64(random.next() % UInt64(head))
            let (_, elapsed) = try seconds { StateReport.runs(of: try store.engine(at: seq).state) }
            stateTotal += elapsed
            stateWorst = max(stateWorst, elapsed)
        }
        let files = state.fileIndex.keys.sorted().compactMap { state.file($0) }.filter(\.isOpen)
        guard !files.isEmpty else { throw BenchError("the log left no open gmem file to ask the history of") }
        random = SeededGenerator(seed: log.seed)
        var historyTotal = 0.0
        var historyWorst = 0.0
        for index in 0..<queries {
            let file = files[index % files.count]
            let offset = (random.next() % file.pageCount) * pageSize
            let (_, elapsed) = try seconds { try History(store: store).entries(for: .file(gmem: file.name, offset: offset, size: pageSize)) }
            historyTotal += elapsed
            historyWorst = max(historyWorst, elapsed)
        }
        let n = Double(queries)
        return [
            Row(id: "state_at", kind: .info, name: "state --at a random seq (snapshot + replay), mean", value: stateTotal / n * 1000, unit: .milliseconds,
                note: "\(queries) queries, max \(String(format2: stateWorst * 1000)) ms"),
            Row(id: "history", kind: .info, name: "history of one page, mean", value: historyTotal / n * 1000, unit: .milliseconds,
                note: "\(queries) queries, max \(String(format2: historyWorst * 1000)) ms; mean ÷ full replay \(String(format3: historyTotal / n / replaySeconds))"),
        ]
    }
}
