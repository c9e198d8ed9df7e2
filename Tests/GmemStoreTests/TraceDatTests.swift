import Foundation
import GmemStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// trace-cmd's binary trace.dat, read through libtracecmd + libtraceevent (docs/TRACES.md): the
/// real captures in seeds/real/*-dat.* were recorded once and saved three ways — the tracefs
/// `trace` text, the trace.dat `trace-cmd extract` wrote from the same buffers, and that file's
/// `trace-cmd report` — next to the VMM's JSON Lines and the ground truth.
@Suite struct TraceDatTests {
    static let captures = ["punch-and-retouch-dat", "unbind-teardown-dat"]

    /// The merge of a capture's JSONL with one of its kernel traces, into a new store.
    static func replay(_ name: String, trace: String) throws -> (store: Store, summary: MergeIngest.Summary) {
        let store = try TraceFixtures.store()
        let summary = try MergeIngest().ingest(
            [(TraceFixtures.real("\(name).jsonl"), nil), (TraceFixtures.real("\(name).\(trace)"), nil)], into: store)
        try store.audit()
        return (store, summary)
    }

    static func events(_ store: Store) throws -> [Event] {
        let head = try store.headLink().seq
        guard head > 0 else { return [] }
        return try (1...head).map { try #require(try store.storedEvent($0)?.event) }
    }

    @Test(arguments: captures)
    func traceDatReplaysToTheTruth(_ name: String) throws {
        try TraceFixtures.checkCapture(
            jsonl: TraceFixtures.real("\(name).jsonl"), trace: TraceFixtures.real("\(name).dat"),
            truth: TraceFixtures.real("\(name).truth.json"))
    }

    /// The trace.dat, the tracefs text and the report text of one capture give the same state,
    /// the same findings and the same events; only the times differ, by the text's rounding to
    /// the nearest microsecond, and the notes where
    /// trace-cmd's kvm plugin prints less than the record holds.
    @Test(arguments: captures)
    func traceDatAndItsTextGiveTheSameStateFindingsAndEvents(_ name: String) throws {
        let dat = try Self.replay(name, trace: "dat")
        #expect(dat.summary.inputs[1].format == .traceDat)
        let datEvents = try Self.events(dat.store)
        let datState = try dat.store.engine(at: try dat.store.headLink().seq).state
        let datFindings = try dat.store.findings().map { [$0.rule, "\($0.seq)", $0.vm ?? "", "\($0.ranges)"] }
        for trace in ["trace", "report.txt"] {
            let text = try Self.replay(name, trace: trace)
            let textEvents = try Self.events(text.store)
            #expect(textEvents.count == datEvents.count, "\(trace)")
            #expect(text.summary.inputs[1].records == dat.summary.inputs[1].records, "\(trace)")
            #expect(text.summary.inputs[1].skipped.counts == dat.summary.inputs[1].skipped.counts, "\(trace)")
            for (datEvent, textEvent) in zip(datEvents, textEvents) {
                #expect(datEvent.op == textEvent.op, "\(trace): \(datEvent.op) against \(textEvent.op)")
                guard let datTS = datEvent.ts, let textTS = textEvent.ts else {
                    #expect(datEvent.ts == textEvent.ts)
                    continue
                }
                if datEvent.source?.file.hasSuffix(".jsonl") ?? false {
                    #expect(datTS == textTS)
                } else {
                    // Both texts print (ts + 500) / 1000 microseconds (the kernel's ns2usecs).
                    #expect((datTS + 500) / 1000 * 1000 == textTS, "\(trace): \(datTS) against \(textTS)")
                }
            }
            let textState = try text.store.engine(at: try text.store.headLink().seq).state
            #expect(textState == datState, "\(trace): the state at the end")
            let textFindings = try text.store.findings().map { [$0.rule, "\($0.seq)", $0.vm ?? "", "\($0.ranges)"] }
            #expect(textFindings == datFindings, "\(trace): the findings")
        }
        // The times are the ring buffer's nanoseconds: not all on whole microseconds.
        #expect(datEvents.contains { $0.source?.file.hasSuffix(".dat") == true && ($0.ts ?? 0) % 1000 != 0 })
    }

    /// The record's number is the event's line: the trace.dat's records in time order, from 1.
    @Test func anEventNamesItsRecord() throws {
        let dat = try Self.replay("punch-and-retouch-dat", trace: "dat")
        let lines = try Self.events(dat.store).compactMap { $0.source?.file.hasSuffix(".dat") == true ? $0.source?.line : nil }
        #expect(!lines.isEmpty)
        #expect(lines == lines.sorted())
        #expect(lines.allSatisfy { $0 >= 1 && $0 <= 397 })
    }

    /// Told by its magic, whatever its name, from a regular file, a pipe or standard input.
    @Test func detectedByItsMagicFromAFileAPipeAndStandardInput() throws {
        let dat = TraceFixtures.real("punch-and-retouch-dat.dat")
        #expect(try InputFormat.detect(path: dat) == .traceDat)
        let directory = try TraceFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let renamed = directory.appendingPathComponent("kernel.trace").path
        try FileManager.default.copyItem(atPath: dat, toPath: renamed)
        #expect(try InputFormat.detect(path: renamed) == .traceDat)
        // Only the whole magic: its first 4 bytes and then text is not a trace.dat.
        let almost = directory.appendingPathComponent("almost").path
        try Data([0x17, 0x08, 0x44, 0x74] + Array("racinG\n".utf8)).write(to: URL(fileURLWithPath: almost))
        #expect(try InputFormat.detect(path: almost) == nil)

        let store = directory.appendingPathComponent("s.gmem").path
        let reference = try runCLI(["ingest", "--db", store, dat])
        #expect(reference.status == 0, "\(reference.stderr)")
        #expect(reference.stdout.contains("(trace.dat): 103 records read"), "\(reference.stdout)")
        for command in ["cat \"$1\" | \"$2\" ingest --db \"$3\" -", "\"$2\" ingest --db \"$3\" <(cat \"$1\")", "\"$2\" ingest --db \"$3\" - < \"$1\""] {
            let other = directory.appendingPathComponent("p\(command.count).gmem").path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", command, "bash", dat, try requireCLI(), other]
            process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "GMEM_DB" }
            let out = Pipe()
            process.standardOutput = out
            process.standardError = out
            try process.run()
            let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(command): \(printed)")
            #expect(printed.contains("(trace.dat): 103 records read, 294 skipped"), "\(command): \(printed)")
            // The same records: the same events as from the file.
            let a = try Self.events(try Store(path: store, access: .readOnly(immutable: false)))
            let b = try Self.events(try Store(path: other, access: .readOnly(immutable: false)))
            #expect(a.map(\.op) == b.map(\.op) && a.map(\.ts) == b.map(\.ts), "\(command)")
        }
    }

    /// A trace.dat cut short or damaged is refused whole: exit 65, a message saying so, and
    /// nothing added to the store.
    @Test func aCutOrDamagedTraceDatIsRefusedAndTheStoreIsUnchanged() throws {
        let directory = try TraceFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = directory.appendingPathComponent("s.gmem").path
        let first = try runCLI(["ingest", "--db", store, TraceFixtures.real("punch-and-retouch-dat.jsonl")])
        #expect(first.status == 0)
        let before = fileBytes(store)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: TraceFixtures.real("punch-and-retouch-dat.dat")))
        var cases: [(String, Data)] = [
            ("half", bytes.prefix(bytes.count / 2)), ("magic only", bytes.prefix(10)), ("headers", bytes.prefix(200)),
            ("last page", bytes.prefix(bytes.count - 1500)),
        ]
        var garbled = bytes
        for index in stride(from: 1000, to: garbled.count, by: 997) { garbled[index] ^= 0x5A }
        cases.append(("garbled", garbled))
        // A version 6 file (uncompressed, its CPU data last) cut inside that data makes libtracecmd
        // read past the end of its mapping: caught, refused like the others.
        let v6 = directory.appendingPathComponent("v6.dat").path
        if let convert = try? runTraceCmd(["convert", "-i", TraceFixtures.real("punch-and-retouch-dat.dat"), "-o", v6, "--file-version", "6"]),
            convert == 0, let whole = FileManager.default.contents(atPath: v6)
        {
            cases.append(("version 6, cut in its data", whole.prefix(whole.count - 100)))
        }
        for (what, data) in cases {
            let path = directory.appendingPathComponent("cut.dat").path
            try data.write(to: URL(fileURLWithPath: path))
            let result = try runCLI(["ingest", "--db", store, "--merge", TraceFixtures.real("punch-and-retouch-dat.jsonl"), path])
            #expect(result.status == 65, "\(what): \(result.status) \(result.stderr) \(result.stdout)")
            #expect(result.stderr.contains("cut.dat"), "\(what): \(result.stderr)")
            #expect(result.stderr.contains("cut short or damaged"), "\(what): \(result.stderr)")
            #expect(fileBytes(store) == before, "\(what): the store changed")
        }
    }

    /// Without libtracecmd a trace.dat is refused with a message naming the package to install
    /// (simulated: GMEM_LIBTRACECMD names a file that does not exist), and the rest still works.
    @Test func withoutTheLibraryATraceDatIsRefusedNamingThePackage() throws {
        let directory = try TraceFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = directory.appendingPathComponent("s.gmem").path
        for variable in ["GMEM_LIBTRACECMD", "GMEM_LIBTRACEEVENT"] {
            let result = try runCLI(
                ["ingest", "--db", store, TraceFixtures.real("punch-and-retouch-dat.dat")],
                environment: [variable: "/nonexistent/lib.so.1"])
            #expect(result.status == 66, "\(variable): \(result.stderr)")
            #expect(result.stderr.contains("apt-get install"), "\(variable): \(result.stderr)")
            #expect(result.stderr.contains(variable == "GMEM_LIBTRACECMD" ? "libtracecmd1" : "libtraceevent1"), "\(result.stderr)")
            let text = try runCLI(
                ["ingest", "--db", store, "--merge", TraceFixtures.real("punch-and-retouch-dat.jsonl"), TraceFixtures.real("punch-and-retouch-dat.trace")],
                environment: [variable: "/nonexistent/lib.so.1"])
            #expect(text.status == 0, "\(text.stderr)")
        }
    }

    /// The trace.dat's bytes are stored as given (`export --original` gives the file back), but
    /// an event from it names a record, not a line: `--original` shows none rather than a
    /// "line" cut out of the binary.
    @Test func theFileIsStoredButARecordIsNoLine() throws {
        let directory = try TraceFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let db = directory.appendingPathComponent("s.gmem").path
        let dat = TraceFixtures.real("punch-and-retouch-dat.dat")
        #expect(try runCLI(["ingest", "--db", db, "--merge", TraceFixtures.real("punch-and-retouch-dat.jsonl"), dat]).status == 0)
        let store = try Store(path: db, access: .readOnly(immutable: false))
        let fromDat = try #require(try Self.events(store).firstIndex { $0.source?.file == dat })
        #expect(try store.originalLine(of: Int64(fromDat + 1)) == nil)
        let fromJSONL = try #require(try Self.events(store).firstIndex { $0.source?.file.hasSuffix(".jsonl") == true })
        #expect(try store.originalLine(of: Int64(fromJSONL + 1)) != nil)
        let export = directory.appendingPathComponent("export.dat").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "\"$1\" export --db \"$2\" --original 1 --input 2 > \"$3\"", "bash", try requireCLI(), db, export]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(FileManager.default.contents(atPath: export) == FileManager.default.contents(atPath: dat))
    }

    /// A ring buffer that overran: libtracecmd reports the records missed before the next one
    /// (`missed_events`), which becomes a `gap` event (GM-R15) before that record, as the
    /// report text's `BUFFER: CPU:0 [933 EVENTS DROPPED]` line does.
    @Test func aRingBufferOverrunIsAGap() throws {
        var gaps: [[GmemStore.Operation]] = []
        for trace in ["lost-events.dat", "lost-events.report.txt"] {
            let store = try TraceFixtures.store()
            let summary = try MergeIngest().ingest([(TraceFixtures.real(trace), nil)], into: store)
            #expect(summary.inputs[0].format == (trace.hasSuffix(".dat") ? .traceDat : .ftrace))
            let events = try Self.events(store)
            gaps.append(events.map(\.op).filter { if case .gap = $0 { return true } else { return false } })
            #expect(events.map(\.op).contains(.gap(source: "ftrace cpu 0", lost: 933)), "\(trace)")
            try store.audit()
            #expect(try store.findings().contains { $0.rule == "GM-R15" }, "\(trace)")
        }
        #expect(gaps[0] == gaps[1])
        #expect(gaps[0].count == 1)
    }

    /// `--format trace.dat` on a file without the magic is refused.
    @Test func formatTraceDatWantsTheMagic() throws {
        let directory = try TraceFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try runCLI(["ingest", "--db", directory.appendingPathComponent("s.gmem").path, "--format", "trace.dat", TraceFixtures.real("punch-and-retouch-dat.trace")])
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains("not a trace.dat"), "\(result.stderr)")
    }
}

/// Runs trace-cmd when it is installed; its exit status, or nil when it is not.
func runTraceCmd(_ arguments: [String]) throws -> Int32? {
    guard let path = ["/usr/bin/trace-cmd", "/usr/local/bin/trace-cmd"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}
