import ArgumentParser
import GmemStore
#if canImport(Glibc)
import Glibc
#endif

/// The whole benchmark on one generated log: the raw C baselines, then gmem's ingest (library
/// API and JSON Lines), replay, audit, `state --at` and `history`, then peak memory.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Measure every figure on one generated log and print each with its ratio to its baseline."
    )

    @OptionGroup var log: LogOptions
    @Option(help: "How many `state --at` and `history` queries to time.")
    var queries: Int = 20
    @Option(help: "Conversions for the run-memory figure (a 1 TiB gmem).")
    var conversions: Int = 100_000

    func run() throws {
        let directory = try log.workingDirectory()
        defer { log.cleanUp(directory) }
        let jsonlPath = directory + "/log.jsonl"

        progress("generating \(log.events) events into \(jsonlPath)")
        var (events, rows) = try generate(into: jsonlPath)
        print("log: \(rows.count) events, \(rows.touches.count) event_touch rows, body \(rows.bodyBytes / max(rows.count, 1)) bytes on average, gmem size \(hex(log.gmemSize.value)), \(log.vms) VMs, seed \(log.seed)")
        print("every ingest below is one batch: one SQLite transaction (WAL, synchronous=FULL)")
        print("")

        // Baselines: the same rows through the C API.
        progress("raw C insert, no secondary index")
        try RawSQLite.createBareTable(at: directory + "/raw-bare.db")
        let (_, bareSeconds) = try seconds { try RawSQLite.insert(rows, into: directory + "/raw-bare.db", touches: false) }
        let bare = Figure(name: "raw C insert: event rows, no secondary index", items: rows.count, seconds: bareSeconds)
        progress("raw C insert, gmem's schema")
        _ = try Store(path: directory + "/raw-schema.db", access: .readWrite)
        let (_, schemaSeconds) = try seconds { try RawSQLite.insert(rows, into: directory + "/raw-schema.db", touches: true) }
        let schema = Figure(name: "raw C insert: identical event + event_touch rows, gmem's indexes", items: rows.count, seconds: schemaSeconds)
        let rawInsert = (name: "raw insert, same indexes", rate: schema.rate)
        let rawBare = (name: "raw insert, no index", rate: bare.rate)

        // The engine alone: evaluate + commit of events already in memory, no SQLite.
        progress("gmem engine alone")
        let (_, engineSeconds) = seconds {
            var engine = Engine()
            for event in events { engine.apply(event) }
            return engine.state.files.count
        }
        let engineFigure = Figure(name: "gmem engine alone: evaluate + commit, events in memory", items: rows.count, seconds: engineSeconds)

        // gmem ingest through the library API: events already in memory, no parsing.
        progress("gmem ingest through the library API")
        let apiStore = try Store(path: directory + "/api.db", access: .readWrite)
        let (_, apiSeconds) = try seconds { try apiStore.append(contentsOf: events) }
        try expectHead(of: apiStore, rows, "library API ingest")

        // A live producer appending one event per call: one transaction (and snapshot) each.
        progress("gmem ingest through the library API, one event per call")
        let singles = min(events.count, max(100, events.count / 100))
        let singleStore = try Store(path: directory + "/single.db", access: .readWrite)
        let (_, singleSeconds) = try seconds { for event in events.prefix(singles) { try singleStore.append(event) } }
        var single = Figure(name: "gmem ingest, library API, one event per call", items: singles, seconds: singleSeconds, baseline: rawInsert)
        single.note = "first \(singles) events, each its own transaction"
        events = []
        let api = Figure(name: "gmem ingest, library API", items: rows.count, seconds: apiSeconds, baseline: rawInsert, target: 0.5)
        let apiBare = Figure(name: "gmem ingest, library API", items: rows.count, seconds: apiSeconds, baseline: rawBare)

        // gmem ingest from JSON Lines, end to end: read, parse, judge, hash, store.
        progress("gmem ingest from JSON Lines")
        let jsonlStore = try Store(path: directory + "/jsonl.db", access: .readWrite)
        let (_, jsonlSeconds) = try seconds { try JSONLIngest().ingest(path: jsonlPath, into: jsonlStore) }
        try expectHead(of: jsonlStore, rows, "JSON Lines ingest")
        let jsonl = Figure(name: "gmem ingest, JSON Lines file", items: rows.count, seconds: jsonlSeconds, baseline: rawInsert, target: 0.3)
        let jsonlBare = Figure(name: "gmem ingest, JSON Lines file", items: rows.count, seconds: jsonlSeconds, baseline: rawBare)

        // Reading: the raw scan, then gmem's replay of the same file.
        let storePath = directory + "/jsonl.db"
        progress("raw C scan")
        let (scanned, scanSeconds) = try seconds { try RawSQLite.scan(storePath) }
        guard scanned.rows == rows.count else { throw BenchError("the raw scan read \(scanned.rows) rows, expected \(rows.count)") }
        let scan = Figure(name: "raw C scan: SELECT seq, body (what replay reads), seq order", items: rows.count, seconds: scanSeconds)
        let rawScan = (name: "raw scan", rate: scan.rate)

        let reader = try Store(path: storePath, access: .readOnly(immutable: false))
        progress("gmem replay")
        let (replayed, replaySeconds) = try seconds { try Replay.full(reader) }
        guard replayed.state == rows.engine.state else {
            throw BenchError("replaying \(storePath) gave another state than the engine that made the log")
        }
        let replay = Figure(name: "gmem replay: log → state, from seq 1", items: rows.count, seconds: replaySeconds, baseline: rawScan, target: 0.5)

        progress("gmem audit")
        let replayRate = (name: "gmem replay", rate: replay.rate)
        var audit: Figure
        // The audit stores its findings, so it needs the store read-write.
        if let (result, auditSeconds) = try timedAudit(try Store(path: storePath, access: .readWrite)) {
            audit = Figure(name: "gmem audit, all rules", items: result.events, seconds: auditSeconds, baseline: replayRate, target: 0.5)
            audit.note = "\(result.findings) findings"
        } else {
            audit = Figure(name: "audit: not in this build", items: 0, seconds: 0)
        }

        progress("gmem state --at")
        let (stateAt, stateLatency) = try timeStateAt(reader, head: Int64(rows.count))
        var stateFigure = Figure(name: "gmem state --at (snapshot + replay to the point)", items: stateAt.events, seconds: stateAt.seconds, baseline: rawScan)
        stateFigure.note = "\(queries) queries: mean \(String(format2: stateLatency.mean * 1000)) ms, max \(String(format2: stateLatency.max * 1000)) ms"

        progress("gmem history")
        let historyLatency = try timeHistory(reader, state: rows.engine.state)
        var history = Figure(name: "gmem history --gmem --offset (one page)", items: queries, seconds: historyLatency.total)
        history.note = "mean \(String(format2: historyLatency.mean * 1000)) ms, max \(String(format2: historyLatency.max * 1000)) ms per query; mean ÷ full replay = \(String(format3: historyLatency.mean / replaySeconds))"

        let figures = [bare, schema, scan, engineFigure, api, apiBare, single, jsonl, jsonlBare, replay, audit, stateFigure, history]
        print(table(
            header: ["figure", "events", "seconds", "rate", "baseline", "ratio", "target", "note"],
            rows: figures.map(\.cells)))
        print("")

        progress("peak memory of a replay, in a child process")
        let child = try ReplayCommand.spawn(store: storePath)
        print("peak RSS replaying \(child.events) events (child process, VmHWM): \(bytesText(child.peakBytes)), \(child.runs) runs in \(child.files) gmem files at the end; target for 10M events of a 1 TiB guest ≤ 256 MiB: run `gmem-bench memory`")

        progress("run memory of a 1 TiB gmem after \(conversions) conversions")
        let runs = RunsMemory.measure(gmemSize: 1 << 40, conversions: conversions, seed: log.seed)
        print(runs.summary)
        print("peak RSS of this benchmark process: \(bytesText(peakResidentBytes()))")
    }

    /// Generates the log: writes it as JSON Lines to `path` and keeps, in memory, the events as
    /// the JSON Lines reader will see them (with their source line) and the rows gmem writes.
    private func generate(into path: String) throws -> ([Event], EventRows) {
        guard let file = fopen(path, "wb") else { throw BenchError("\(path): cannot create: \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var events: [Event] = []
        events.reserveCapacity(log.events)
        var rows = EventRows()
        var line: UInt64 = 0
        for var event in LogGenerator(log.configuration) {
            var text = event.canonicalJSON + "\n"
            text.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, file) }
            line += 1
            event.source = EventSource(file: path, line: line)
            rows.append(event)
            events.append(event)
        }
        guard ferror(file) == 0 else { throw BenchError("\(path): write failed") }
        return (events, rows)
    }

    private func expectHead(of store: Store, _ rows: EventRows, _ what: String) throws {
        let head = try store.headLink()
        guard head.seq == Int64(rows.count), head.hash == rows.headHash else {
            throw BenchError("\(what) wrote other rows than the baseline: head \(head.seq):\(HashChain.hex(head.hash)), expected \(rows.count):\(HashChain.hex(rows.headHash))")
        }
    }

    private func timedAudit(_ store: Store) throws -> ((events: Int, findings: Int), Double)? {
        let (result, elapsed) = try seconds { try AuditPhase.run(store: store) }
        return result.map { ($0, elapsed) }
    }

    /// `state --at` at `queries` random points of the log: the events replayed after each
    /// point's snapshot, the total time, and the latency per query.
    private func timeStateAt(_ store: Store, head: Int64) throws -> ((events: Int, seconds: Double), (mean: Double, max: Double)) {
        var replayed = 0
        var total = 0.0
        var worst = 0.0
        var random = SeededGenerator(seed: log.seed &+ 1)
        for _ in 0..<queries {
            let seq = 1 + Int64(random.next() % UInt64(head))
            replayed += Int(seq - (try store.snapshot(atOrBefore: seq).seq))
            let (runs, elapsed) = try seconds { StateReport.runs(of: try store.engine(at: seq).state) }
            guard !runs.isEmpty || seq < 3 else { throw BenchError("state at seq \(seq) has no runs") }
            total += elapsed
            worst = max(worst, elapsed)
        }
        return ((replayed, total), (total / Double(queries), worst))
    }

    /// `history` of one page of each open gmem file, at pages spread over the file.
    private func timeHistory(_ store: Store, state: GmemState) throws -> (total: Double, mean: Double, max: Double) {
        let files = state.fileIndex.keys.sorted().compactMap { state.file($0) }.filter(\.isOpen)
        guard !files.isEmpty else { throw BenchError("the log left no open gmem file to ask the history of") }
        var random = SeededGenerator(seed: log.seed)
        var total = 0.0
        var worst = 0.0
        for index in 0..<queries {
            let file = files[index % files.count]
            let offset = (random.next() % file.pageCount) * pageSize
            let (_, elapsed) = try seconds {
                try History(store: store).entries(for: .file(gmem: file.name, offset: offset, size: pageSize))
            }
            total += elapsed
            worst = max(worst, elapsed)
        }
        return (total, total / Double(queries), worst)
    }
}
