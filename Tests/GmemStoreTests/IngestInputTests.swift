import Foundation
import Testing
@testable import GmemStore

#if canImport(Glibc)
import Glibc
#endif

/// `gmem-audit ingest` on every kind of input as a user gives it: streams read once from their
/// start (pipes, FIFOs, process substitution, /dev/stdin, -), compressed files read directly,
/// prose refused, lines past the limit refused or skipped in flat memory, skipped names bounded,
/// and a stored file recognised before it is read.
@Suite struct IngestInputTests {
    static let jsonl = TraceFixtures.real("punch-and-retouch.jsonl")
    static let trace = TraceFixtures.real("punch-and-retouch.trace")

    /// Runs `script` with bash, `$BIN` the CLI and `$DB` a fresh store; returns the result and
    /// the store's path.
    static func run(_ script: String, directory: String? = nil) throws -> (result: ProcessResult, db: String) {
        let binary = try requireCLI()
        let directory = try directory ?? TraceFixtures.temporaryDirectory().path
        let db = directory + "/gmem.db"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "GMEM_DB")
        environment["BIN"] = binary
        environment["DB"] = db
        environment["DIR"] = directory
        process.environment = environment
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        return (finish(process), db)
    }

    /// The events of the store at `db`, as canonical JSON without their `src` (which names the
    /// input as given).
    static func events(_ db: String) throws -> [String] {
        let store = try Store(path: db, access: .readOnly(immutable: false))
        var events: [String] = []
        try store.forEachEvent(in: 1...Int64.max) { stored in
            var event = try stored.decoded()
            event.source = nil
            events.append(event.canonicalJSON)
            return true
        }
        return events
    }

    /// What the two inputs give as regular files.
    static let expected: [String] = {
        let (result, db) = try! run(#"$BIN ingest --db "$DB" --merge "$JSONL" "$TRACE""#.replacingOccurrences(of: "$JSONL", with: jsonl)
            .replacingOccurrences(of: "$TRACE", with: trace))
        precondition(result.status == 0, result.stderr)
        return try! events(db)
    }()

    /// Every way of giving the JSON Lines and the trace as a stream reads all of each: the
    /// same events as the regular files, none lost to format detection.
    @Test(arguments: [
        ("process substitution", #"$BIN ingest --db "$DB" --merge <(cat J) <(cat T)"#),
        ("pipe on -", #"cat T | $BIN ingest --db "$DB" --merge J -"#),
        ("pipe on /dev/stdin", #"cat T | $BIN ingest --db "$DB" --merge J /dev/stdin"#),
        ("redirect on -", #"$BIN ingest --db "$DB" --merge J - < T"#),
        ("FIFOs", #"mkfifo "$DIR/j" "$DIR/t"; cat J > "$DIR/j" & a=$!; cat T > "$DIR/t" & b=$!; timeout -s KILL 120 $BIN ingest --db "$DB" --merge "$DIR/j" "$DIR/t"; s=$?; kill $a $b 2>/dev/null; exit $s"#),
        ("gzip through zcat", #"gzip -c T > "$DIR/t.gz"; $BIN ingest --db "$DB" --merge <(cat J) <(zcat "$DIR/t.gz")"#),
        ("gzip file", #"gzip -c J > "$DIR/j.gz"; gzip -c T > "$DIR/t"; $BIN ingest --db "$DB" --merge "$DIR/j.gz" "$DIR/t""#),
        ("zstd file", #"zstd -q -c J > "$DIR/j"; zstd -q -c T > "$DIR/t.txt"; $BIN ingest --db "$DB" --merge "$DIR/j" "$DIR/t.txt""#),
        ("gzip on a pipe", #"gzip -c T | $BIN ingest --db "$DB" --merge J -"#),
        ("zstd through process substitution", #"$BIN ingest --db "$DB" --merge J <(zstd -q -c T)"#),
    ])
    func streamsAndCompressedInputsLoseNothing(_ way: String, _ script: String) throws {
        let (result, db) = try Self.run(script.replacingOccurrences(of: "J", with: Self.jsonl).replacingOccurrences(of: "T", with: Self.trace))
        #expect(result.status == 0, "\(way): \(result.stderr)")
        #expect(try Self.events(db) == Self.expected, "\(way)")
        #expect(Self.expected.count > 12)  // the trace added events of its own
    }

    /// One JSON Lines input alone on each kind of stream: all its events.
    @Test func aJSONLinesStreamAloneKeepsItsFirstLine() throws {
        let lines = try String(contentsOfFile: Self.jsonl, encoding: .utf8).split(separator: "\n").count
        for script in [
            #"$BIN ingest --db "$DB" <(cat J)"#, #"cat J | $BIN ingest --db "$DB" -"#, #"cat J | $BIN ingest --db "$DB" /dev/stdin"#,
            #"$BIN ingest --db "$DB" <(gzip -c J | zcat)"#,
        ] {
            let (result, db) = try Self.run(script.replacingOccurrences(of: "J", with: Self.jsonl))
            #expect(result.status == 0, "\(script): \(result.stderr)")
            #expect(try Self.events(db).count == lines, "\(script)")
        }
    }

    /// Prose is no format: refused with exit 65 and the file:line that failed, nothing added.
    @Test func proseIsRefusedWithTheLineThatFailed() throws {
        let directory = try TraceFixtures.temporaryDirectory().path
        let cases: [(name: String, text: String, line: Int)] = [
            ("notes.txt", "\n# my notes\nBought milk, then ran the guest.\nkvm_exit 3\n", 3),
            ("words.txt", "hello world\n", 1),
            ("word.txt", "lorem\n", 1),
            ("lower.txt", "the quick brown fox jumps over the lazy dog\n", 1),
            ("version.txt", "version = two\n", 1),
            ("cr.txt", "# notes\rsome words here\r", 2),
        ]
        for item in cases {
            let path = directory + "/" + item.name
            try item.text.write(toFile: path, atomically: true, encoding: .utf8)
            let (result, db) = try Self.run(#"$BIN ingest --db "$DB" "\#(path)""#)
            #expect(result.status == 65, "\(item.name): \(result.stdout)")
            #expect(result.stderr.contains("\(path):\(item.line): not the shape of any input format"), "\(item.name): \(result.stderr)")
            #expect((try? Self.events(db))?.isEmpty ?? true)
        }
        // The README itself.
        let readme = repositoryRoot + "/README.md"
        let (result, _) = try Self.run(#"$BIN ingest --db "$DB" "\#(readme)""#)
        #expect(result.status == 65)
        #expect(result.stderr.contains("\(readme):"))
        #expect(result.stderr.contains("not the shape of any input format"))
    }

    /// A real trace with no guest_memfd line is a trace: accepted, its lines counted.
    @Test func aTraceWithoutGuestMemfdLinesIsAcceptedWithItsCounts() throws {
        let directory = try TraceFixtures.temporaryDirectory().path
        let path = directory + "/exits.trace"
        try [
            "# tracer: nop", "#",
            " qemu-system-x86-4242    [001] .....   100.000001: kvm_fpu: load",
            " qemu-system-x86-4242    [001] .....   100.000002: kvm_fpu: unload",
            " qemu-system-x86-4242    [001] .....   100.000003: kvm_entry: vcpu 0, rip 0xffffffff81000000",
        ].joined(separator: "\n").appending("\n").write(toFile: path, atomically: true, encoding: .utf8)
        let (result, db) = try Self.run(#"$BIN ingest --db "$DB" "\#(path)""#)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\(path): 0 added"))
        #expect(result.stdout.contains("(ftrace): 0 trace lines read, 3 skipped: kvm_fpu 2, kvm_entry 1"))
        #expect(try Self.events(db).isEmpty)
        // The same in a QEMU log without timestamps.
        let qemu = directory + "/exits.log"
        try "kvm_run_exit cpu_index 0, reason 2\nkvm_vcpu_ioctl cpu_index 0, type 0xae80, arg (nil)\n"
            .write(toFile: qemu, atomically: true, encoding: .utf8)
        let (qemuResult, _) = try Self.run(#"$BIN ingest --db "$DB" "\#(qemu)""#)
        #expect(qemuResult.status == 0, "\(qemuResult.stderr)")
        #expect(qemuResult.stdout.contains("(qemu): 0 trace lines read, 2 skipped"))
    }

    /// A trace saved with CR-only line ends is read as its lines.
    @Test func aTraceWithCROnlyLineEndsIsReadAsItsLines() throws {
        let directory = try TraceFixtures.temporaryDirectory().path
        let text = try String(contentsOfFile: Self.trace, encoding: .utf8)
        try text.replacingOccurrences(of: "\n", with: "\r").write(toFile: directory + "/cr.trace", atomically: true, encoding: .utf8)
        let (result, db) = try Self.run(#"$BIN ingest --db "$DB" --merge "\#(Self.jsonl)" "$DIR/cr.trace""#, directory: directory)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Self.events(db) == Self.expected)
    }

    /// Runs the CLI with `arguments` and returns its exit status, its output, its peak
    /// resident memory in bytes and its wall time. The peak is GNU time's (`wait4` of a child
    /// it forks itself): Linux carries `ru_maxrss` across exec from the parent's memory, so
    /// the test runner's own peak would show in a child it spawned directly.
    static func measured(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String, peak: Int, seconds: Double) {
        let binary = try requireCLI()
        let directory = try TraceFixtures.temporaryDirectory().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/time")
        process.arguments = ["-f", "%M", "-o", directory + "/peak", binary] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "GMEM_DB")
        process.environment = environment
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        let started = Date()
        try process.run()
        let result = finish(process)
        let seconds = Date().timeIntervalSince(started)
        let report = try String(contentsOfFile: directory + "/peak", encoding: .utf8)
        // GNU time writes "Command exited with non-zero status N" before the figure.
        let kib = Int(report.split(separator: "\n").last { !$0.isEmpty }.map(String.init) ?? "") ?? -1
        return (result.status, result.stdout, result.stderr, kib * 1024, seconds)
    }

    /// A 100 MB line without a line end is refused in seconds and flat memory, with its
    /// file:line and the limit; in a trace it is skipped and counted, the lines after it read.
    @Test func aHundredMegabyteLineIsRefusedFastInFlatMemory() throws {
        let directory = try TraceFixtures.temporaryDirectory().path
        let big = directory + "/big.jsonl"
        let line = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        _ = FileManager.default.createFile(atPath: big, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
        try handle.write(contentsOf: Array(#"{"op":"vm_create","vm":"v1","ts":1}"#.utf8) + [0x0A] + Array(#"{"op":"#.utf8))
        for _ in 0..<100 { try handle.write(contentsOf: line) }
        try handle.close()
        let db = directory + "/gmem.db"
        let refused = try Self.measured(["ingest", "--db", db, big])
        #expect(refused.status == 65, "\(refused.stderr)")
        #expect(refused.stderr.contains("\(big):2: line longer than the limit of 1048576 bytes (1 MiB)"))
        #expect(refused.seconds < 10)
        #expect(refused.peak > 0)
        #expect(refused.peak < 80 << 20, "peak RSS \(refused.peak >> 20) MiB")

        // In a trace, the same line is skipped and counted, and the trace goes on.
        let trace = directory + "/big.trace"
        _ = FileManager.default.createFile(atPath: trace, contents: nil)
        let traceHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: trace))
        let header = " qemu-system-x86-4242    [001] .....   100.000001: kvm_fpu: load\n"
        try traceHandle.write(contentsOf: Array(header.utf8) + Array(" x-1 [000] 1.000002: kvm_fpu: ".utf8))
        for _ in 0..<100 { try traceHandle.write(contentsOf: line) }
        try traceHandle.write(contentsOf: Array(("\n" + header).utf8))
        try traceHandle.close()
        let skipped = try Self.measured(["ingest", "--db", db, trace])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stdout.contains("3 skipped: kvm_fpu 2, (line longer than 1 MiB) 1"), "\(skipped.stdout)")
        #expect(skipped.seconds < 20)
        #expect(skipped.peak < 80 << 20, "peak RSS \(skipped.peak >> 20) MiB")
    }

    /// With --quarantine, a JSON line over the limit goes to the reject table, the rest is read.
    @Test func aLongJSONLineIsQuarantined() throws {
        let temporary = try TemporaryStore()
        let path = try temporary.file(
            "q.jsonl", #"{"op":"vm_create","vm":"v1"}"# + "\n" + String(repeating: "x", count: (1 << 20) + 1) + "\n" + #"{"op":"vm_destroy","vm":"v1"}"# + "\n")
        let summary = try MergeIngest(quarantine: true).ingest([(path, nil)], into: temporary.store)
        #expect(summary.batch.added == 2)
        #expect(summary.batch.rejected == 1)
    }

    /// 1e6 distinct skipped names: the table stays at its bound, every line is counted, and
    /// the summary line stays short.
    @Test func distinctSkippedNamesAreBounded() throws {
        var skipped = SkippedLines()
        for index in 0..<1_000_000 { skipped.add("event_\(index)") }
        skipped.add("event_1", count: 5)
        skipped.add(String(repeating: "n", count: 10_000))
        skipped.add("esc\u{1B}[31m\u{0}")
        #expect(skipped.counts.count == SkippedLines.nameLimit)
        #expect(skipped.total == 1_000_007)
        #expect(skipped.otherLines == 1_000_000 - SkippedLines.nameLimit + 2)
        #expect(skipped.counts["event_1"] == 6)
        #expect(skipped.counts.keys.allSatisfy { $0.utf8.count <= SkippedLines.nameLength + 3 })
        let summary = skipped.summary()
        #expect(summary.hasPrefix("event_1 6, "))
        #expect(summary.utf8.count < 2000)
        #expect(summary.hasSuffix("(236 other names) 236, (names past the first 256) \(skipped.otherLines)"))
        var escaped = SkippedLines()
        escaped.add("esc\u{1B}[31m\u{0}")
        #expect(escaped.sorted.map(\.name) == [#"esc\u{1b}[31m\u{0}"#])
        #expect(SkippedLines.kept(String(repeating: "n", count: 10_000)) == String(repeating: "n", count: 64) + "…")
    }

    /// End to end: a QEMU log of 1e6 distinct event names, ingested in bounded memory with a
    /// short summary.
    @Test func aMillionDistinctTraceNamesThroughTheCLI() throws {
        let directory = try TraceFixtures.temporaryDirectory().path
        let path = directory + "/names.log"
        try shell("seq 1 1000000 | sed 's/^/qemu_event_/; s/$/ arg/' > \(path)")
        let result = try Self.measured(["ingest", "--db", directory + "/gmem.db", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("1000000 skipped"))
        #expect(result.stdout.utf8.count < 4000, "summary of \(result.stdout.utf8.count) bytes")
        #expect(result.peak > 0 && result.peak < 64 << 20, "peak RSS \(result.peak >> 20) MiB")
    }

    /// A stored regular file is recognised from its hash before a line of it is read.
    @Test func aStoredFileIsRecognisedBeforeItIsRead() throws {
        let temporary = try TemporaryStore()
        let first = try MergeIngest().ingest([(Self.jsonl, nil), (Self.trace, nil)], into: temporary.store)
        #expect(first.batch.added > 0)
        for inputs in [[Self.jsonl, Self.trace]] {
            let sources = try inputs.map { try IngestSource(path: $0, format: nil) }
            let again = try MergeIngest().ingest(sources, into: temporary.store)
            #expect(again.batch.duplicateOfBatch == first.batch.batch)
            #expect(sources.allSatisfy { $0.bytesRead == 0 }, "read \(sources.map(\.bytesRead)) bytes")
        }
        // A stream cannot be hashed first: it is read, and found stored at its end.
        let (result, _) = try Self.run(
            #"$BIN ingest --db "$DB" --merge J T && $BIN ingest --db "$DB" --merge <(cat J) <(cat T)"#
                .replacingOccurrences(of: "J", with: Self.jsonl).replacingOccurrences(of: "T", with: Self.trace))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("already ingested as batch 1; nothing added"))
    }
}
