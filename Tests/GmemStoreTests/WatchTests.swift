import Foundation
import Testing
@testable import GmemStore

#if canImport(Glibc)
import Glibc
#endif

/// `gmem-audit watch` run as a child process: follow a file, rotation, SIGINT and SIGKILL with
/// restarts, a FIFO's lost lines, --fail-on, --exec without a shell, stale tracefs instances.
@Suite(.serialized) struct WatchTests {
    /// A VM, a mmap-able gmem file, and a host access to one of its private pages that succeeded:
    /// GM-R07 at critical.
    static let hostAccessLog = """
        {"op":"vm_create","vm":"td1","ts":1000}
        {"op":"gmem_create","vm":"td1","gmem":"g1","size":2097152,"flags":["mmap"],"ts":2000}

        """
    static let badAccess = #"{"op":"host_access","gmem":"g1","offset":0,"size":4096,"result":"ok","ts":3000}"# + "\n"

    @Test func aLineAppendedToTheFollowedFileIsPrintedAsAFindingAtOnce() throws {
        let temporary = try TemporaryStore()
        let log = try temporary.file("vmm.jsonl", Self.hostAccessLog)
        let watch = try WatchedProcess(["watch", "--db", temporary.path, "--format", "jsonl", log])
        try watch.waitForStderr("watch:", orExit: false, seconds: 0)  // nothing needed yet
        Thread.sleep(forTimeInterval: 0.5)
        let appended = Date()
        try append(Self.badAccess, to: log)
        let line = try watch.nextStdoutLine(seconds: 10)
        let latency = Date().timeIntervalSince(appended)
        #expect(line?.contains("\"rule\":\"GM-R07\"") == true, "no GM-R07 printed: \(line ?? "nothing")")
        // A debug build on a machine shared by many builds: the bound here only catches a finding
        // that waits for something (the next append, the end of the file); the release figures
        // (p50 54 ms, p99 151 ms) are in docs/PERFORMANCE.md.
        #expect(latency < 5, "the finding took \(latency) s")
        let result = watch.stop(signal: SIGINT)
        #expect(result.status == 0, "watch exited \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("stopped by SIGINT") && result.stderr.contains("3 events"), "\(result.stderr)")
    }

    @Test func sigintThenRestartContinuesWithNothingLostOrTwice() throws {
        let temporary = try TemporaryStore()
        let whole = generatedLog(events: 600, seed: 11, gmemSize: 8 << 20)
        let lines = whole.split(separator: "\n", omittingEmptySubsequences: false)
        let half = lines[..<300].joined(separator: "\n") + "\n"
        let log = try temporary.file("vmm.jsonl", half)
        var watch = try WatchedProcess(["watch", "--db", temporary.path, log])
        try waitForCheckpoint(temporary.path, source: log, offset: UInt64(half.utf8.count))
        var result = watch.stop(signal: SIGINT)
        #expect(result.status == 0, "\(result.stderr)")
        try append(String(whole.dropFirst(half.utf8.count)), to: log)
        watch = try WatchedProcess(["watch", "--db", temporary.path, log])
        try waitForCheckpoint(temporary.path, source: log, offset: UInt64(whole.utf8.count))
        result = watch.stop(signal: SIGTERM)
        #expect(result.status == 0 && result.stderr.contains("continues after line 300"), "\(result.stderr)")
        #expect(try head(of: temporary.path) == cleanHead(of: whole, named: log), "the store differs from a clean ingest of the file")
    }

    @Test("SIGKILL during watch, 20 times at random moments: the store equals a clean ingest of the file")
    func killedTwentyTimes() throws {
        let temporary = try TemporaryStore()
        let whole = generatedLog(events: 4000, seed: 3, gmemSize: 8 << 20)
        let bytes = Array(whole.utf8)
        let log = try temporary.file("vmm.jsonl", "")
        var written = 0
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20 {
            // Append the next part while watch runs, and kill it somewhere in the middle.
            let watch = try WatchedProcess(["watch", "--db", temporary.path, "--batch-events", "50", "--batch-ms", "5", log])
            let next = round == 19 ? bytes.count : min(bytes.count, written + Int.random(in: 50...400, using: &generator) * 50)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
            while written < next {
                let piece = min(next - written, Int.random(in: 100...4000, using: &generator))
                handle.write(Data(bytes[written..<(written + piece)]))
                written += piece
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.004, using: &generator))
            }
            try handle.close()
            Thread.sleep(forTimeInterval: Double.random(in: 0...0.3, using: &generator))
            let killed = watch.stop(signal: SIGKILL)
            #expect(killed.reason == .uncaughtSignal || killed.status == 0, "round \(round): \(killed.stderr)")
        }
        let last = try WatchedProcess(["watch", "--db", temporary.path, log])
        try waitForCheckpoint(temporary.path, source: log, offset: UInt64(bytes.count))
        #expect(last.stop(signal: SIGINT).status == 0)
        #expect(try head(of: temporary.path) == cleanHead(of: whole, named: log), "after 20 kills the store differs from a clean ingest")
        let verify = try runCLI(["verify", "--db", temporary.path])
        #expect(verify.status == 0, "verify: \(verify.stdout) \(verify.stderr)")
    }

    @Test func aRotatedFileIsReadToItsEndAndTheNewOneFollowed() throws {
        let temporary = try TemporaryStore()
        let first = generatedLog(events: 200, seed: 21, gmemSize: 8 << 20)
        let log = try temporary.file("vmm.jsonl", first)
        let watch = try WatchedProcess(["watch", "--db", temporary.path, log])
        try waitForCheckpoint(temporary.path, source: log, offset: UInt64(first.utf8.count))
        // logrotate's rename and create: the old file gets a last line after the rename.
        let extra = #"{"op":"vm_create","vm":"late-vm","ts":1}"# + "\n"
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try append(extra, to: log + ".1")
        let second = #"{"op":"vm_create","vm":"after-rotation","ts":2}"# + "\n"
        _ = try temporary.file("vmm.jsonl", second)
        try waitForCheckpoint(temporary.path, source: log, offset: UInt64(second.utf8.count))
        let result = watch.stop(signal: SIGINT)
        #expect(result.status == 0 && result.stderr.contains("1 rotation followed"), "\(result.stderr)")
        let store = try Store(path: temporary.path, access: .readOnly(immutable: false))
        #expect(try store.headLink().seq == 202)
        #expect(try store.storedEvent(201)?.event.source == EventSource(file: log, line: 201))
        #expect(try store.storedEvent(202)?.event.source == EventSource(file: log, line: 1))
    }

    @Test func aFIFOsUncommittedLinesAreReportedLostAfterSIGKILL() throws {
        let temporary = try TemporaryStore()
        let fifo = temporary.sibling("vmm.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        var watch = try WatchedProcess(["watch", "--db", temporary.path, fifo])
        let writer = open(fifo, O_WRONLY)
        #expect(writer >= 0)
        let text = Self.hostAccessLog
        _ = text.withCString { Glibc.write(writer, $0, strlen($0)) }
        Thread.sleep(forTimeInterval: 0.5)
        _ = watch.stop(signal: SIGKILL)
        watch = try WatchedProcess(["watch", "--db", temporary.path, fifo])
        Thread.sleep(forTimeInterval: 0.5)
        var result = watch.stop(signal: SIGINT)
        close(writer)
        #expect(result.status == 0 && result.stderr.contains("stopped without committing"), "\(result.stderr)")
        #expect(result.stdout.contains("GM-R15 evidence-gap"), "the restart printed no GM-R15: \(result.stdout)")
        let store = try Store(path: temporary.path, access: .readOnly(immutable: false))
        let gap = try store.storedEvent(try store.headLink().seq)?.event
        #expect(gap?.op == .gap(source: fifo, lost: nil), "the log does not end with the gap: \(String(describing: gap))")
        // Stopped cleanly this time: the next start loses nothing.
        watch = try WatchedProcess(["watch", "--db", temporary.path, fifo])
        Thread.sleep(forTimeInterval: 0.3)
        result = watch.stop(signal: SIGINT)
        #expect(result.status == 0 && !result.stderr.contains("stopped without committing"), "\(result.stderr)")
    }

    @Test func failOnExitsAtTheFirstFindingAtOrAboveIt() throws {
        let temporary = try TemporaryStore()
        let log = try temporary.file("vmm.jsonl", Self.hostAccessLog + Self.badAccess)
        let watch = try WatchedProcess(["watch", "--db", temporary.path, "--fail-on", "critical", log])
        let result = watch.wait(seconds: 20)
        #expect(result.status == 1, "watch --fail-on exited \(result.status): \(result.stderr)")
        #expect(result.stdout.contains("CRITICAL seq 3 GM-R07"), "\(result.stdout)")
        #expect(result.stderr.contains("stopped by --fail-on"), "\(result.stderr)")
        // Below the threshold it keeps following.
        let quiet = try WatchedProcess(["watch", "--db", temporary.sibling("b.db"), "--fail-on", "emergency", log])
        Thread.sleep(forTimeInterval: 1)
        #expect(quiet.stop(signal: SIGINT).status == 0)
    }

    @Test func execGetsTheFindingInItsEnvironmentWithoutAShell() throws {
        let temporary = try TemporaryStore()
        let marker = temporary.sibling("pwned")
        let vm = "td$(touch \(marker));touch \(marker)"
        let log = try temporary.file("vmm.jsonl", """
            {"op":"vm_create","vm":"\(vm)","ts":1000}
            {"op":"gmem_create","vm":"\(vm)","gmem":"g1","size":2097152,"flags":["mmap"],"ts":2000}
            {"op":"host_access","gmem":"g1","offset":0,"size":4096,"result":"ok","ts":3000}

            """)
        let watch = try WatchedProcess(["watch", "--db", temporary.path, "--format", "jsonl", "--exec", "env", log])
        var seen = ""
        let deadline = Date().addingTimeInterval(20)
        while !seen.contains("GMEM_VM=") && Date() < deadline {
            if let line = try watch.nextStdoutLine(seconds: 1) { seen += line + "\n" }
        }
        let result = watch.stop(signal: SIGINT)
        seen += result.stdout
        #expect(seen.contains("GMEM_VM=" + vm), "\(seen)")
        #expect(seen.contains("GMEM_RULE=GM-R07") && seen.contains("GMEM_SEVERITY=critical") && seen.contains("GMEM_SEQ=3"), "\(seen)")
        #expect(!FileManager.default.fileExists(atPath: marker), "a shell ran the finding's text")
    }

    @Test func ingestOfAFileWatchConsumedWholeAddsNothingAndTheOtherWayRound() throws {
        let temporary = try TemporaryStore()
        let whole = generatedLog(events: 300, seed: 5, gmemSize: 8 << 20)
        let log = try temporary.file("vmm.jsonl", whole)
        let session = try WatchSession(store: temporary.store, inputs: [try FollowedInput(path: log)])
        while try session.step() > 0 {}
        try session.stop()
        #expect(session.added == 300)
        let again = try MergeIngest().ingest([(log, nil)], into: temporary.store)
        #expect(again.batch.duplicateOfBatch != nil && again.batch.added == 0, "\(again.batch)")

        let other = try TemporaryStore()
        let copy = try other.file("vmm.jsonl", whole)
        #expect(try MergeIngest().ingest([(copy, nil)], into: other.store).batch.added == 300)
        let follow = try WatchSession(store: other.store, inputs: [try FollowedInput(path: copy)])
        #expect(follow.notes.contains { $0.contains("already stored by batch") }, "\(follow.notes)")
        while try follow.step() > 0 {}
        try follow.stop()
        let followedHead = try other.store.headLink().seq
        #expect(follow.added == 0 && followedHead == 300)
    }

    @Test func rotateCutsTheStoreIntoAChainThatVerifiesEndToEnd() throws {
        let temporary = try TemporaryStore()
        let whole = generatedLog(events: 3000, seed: 9, gmemSize: 8 << 20)
        let lines = whole.split(separator: "\n").map { $0 + "\n" }
        let log = try temporary.file("vmm.jsonl", "")
        let watch = try WatchedProcess(["watch", "--db", temporary.path, "--rotate", "200K", log])
        var written = 0
        for part in stride(from: 0, to: lines.count, by: 300) {
            let piece = lines[part..<min(part + 300, lines.count)].joined()
            try append(piece, to: log)
            written += piece.utf8.count
            Thread.sleep(forTimeInterval: 0.25)
        }
        try waitForCheckpoint(temporary.path, source: log, offset: UInt64(written))
        let result = watch.stop(signal: SIGINT)
        #expect(result.status == 0 && result.stderr.contains("rotation"), "\(result.stderr)")
        var chain: [String] = []
        var number = 1
        while FileManager.default.fileExists(atPath: temporary.sibling("gmem.\(number).db")) {
            chain.append(temporary.sibling("gmem.\(number).db"))
            number += 1
        }
        chain.append(temporary.path)
        #expect(chain.count >= 3, "--rotate 200K cut \(chain.count - 1) times")
        var events: Int64 = 0
        for path in chain { events += try Store(path: path, access: .readOnly(immutable: false)).headLink().seq }
        #expect(events == 3000, "the chain holds \(events) events, not 3000")
        let verify = try runCLI(["verify"] + chain)
        #expect(verify.status == 0, "verify of the chain: \(verify.stdout) \(verify.stderr)")
    }

    @Test func aSilentSourceHoldsTheMergeOnlyUntilTheWatermarkAndALateEventIsCounted() throws {
        let temporary = try TemporaryStore()
        let vmm = try temporary.file("a.jsonl", "")
        let trace = try temporary.file("b.jsonl", "")
        let session = try WatchSession(store: temporary.store, inputs: [try FollowedInput(path: vmm), try FollowedInput(path: trace)])
        session.watermark = 200_000_000
        session.batchInterval = 1
        func vm(_ name: String, _ ts: Int) -> String { #"{"op":"vm_create","vm":"\#(name)","ts":\#(ts)}"# + "\n" }
        let start: UInt64 = 1_000_000_000_000
        try append(vm("b50", 50), to: trace)
        try session.step(now: start)
        try append(vm("a100", 100) + vm("a300", 300), to: vmm)
        try session.step(now: start + 10_000_000)
        #expect(try temporary.store.headLink().seq == 1, "b spoke 10 ms ago: it may still send something older than a's 100")
        try session.step(now: start + 300_000_000)
        #expect(try temporary.store.headLink().seq == 3, "b was silent past the watermark: a's events go on")
        try append(vm("b200", 200), to: trace)
        try session.step(now: start + 310_000_000)
        try session.stop()
        var order: [String] = []
        try temporary.store.forEachEvent(in: 1...4) { stored in
            if case .vmCreate(let name, _, _) = stored.event.op { order.append(name) }
            return true
        }
        #expect(order == ["b50", "a100", "a300", "b200"])
        #expect(session.sourceSummaries.contains { $0.contains("b.jsonl") && $0.contains("1 late") }, "\(session.sourceSummaries)")
    }

    static let tracefsUnavailable: String? = {
        guard geteuid() == 0 else { return "not root" }
        guard (try? TracefsInstance.mountPoint()) != nil else { return "no tracefs here" }
        return nil
    }()

    @Test(.enabled(if: tracefsUnavailable == nil, Comment(rawValue: "tracefs: \(tracefsUnavailable ?? "")")))
    func aKilledWatchsTracefsInstanceIsRemovedByTheNext() throws {
        let tracefs = try TracefsInstance.mountPoint()
        guard access(tracefs + "/events/kvm", F_OK) == 0 else {
            try Test.cancel("tracefs has no kvm events (kvm module not loaded)")
        }
        let temporary = try TemporaryStore()
        let first = try WatchedProcess(["watch", "--db", temporary.path, "tracefs"])
        let instance = tracefs + "/instances/gmem-watch-\(first.process.processIdentifier)"
        let deadline = Date().addingTimeInterval(20)
        // Killed once it reads: its instance made, its stream marked open in the store.
        while Date() < deadline {
            let store = try? Store(path: temporary.path, access: .readOnly(immutable: false))
            if access(instance, F_OK) == 0, (try? store?.watchCheckpoint("tracefs"))??.open == true { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(access(instance, F_OK) == 0, "watch made no instance")
        _ = first.stop(signal: SIGKILL)
        #expect(access(instance, F_OK) == 0, "a killed watch cannot have removed its instance")
        let second = try WatchedProcess(["watch", "--db", temporary.path, "tracefs"])
        let own = tracefs + "/instances/gmem-watch-\(second.process.processIdentifier)"
        while access(own, F_OK) != 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let result = second.stop(signal: SIGINT)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("removed the tracefs instance gmem-watch-\(first.process.processIdentifier)"), "\(result.stderr)")
        #expect(access(instance, F_OK) != 0 && access(own, F_OK) != 0, "an instance was left behind")
        #expect(result.stderr.contains("tracefs: the previous watch stopped without committing"), "\(result.stderr)")
    }

    /// The live test: `watch tracefs` runs while scripts/capture-real.sh runs a real KVM guest on
    /// guest_memfd memory, is stopped with SIGINT and restarted; every event of the capture's own
    /// trace, ingested offline, is in the watched store, in the same order, with the same fields.
    @Test(.enabled(if: LiveCaptureTests.unavailable == nil, LiveCaptureTests.skipComment))
    func watchingTracefsDuringARealCaptureEqualsAnOfflineIngestOfIt() throws {
        let temporary = try TemporaryStore()
        var watch = try WatchedProcess(["watch", "--db", temporary.path, "tracefs"])
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let store = try? Store(path: temporary.path, access: .readOnly(immutable: false))
            if (try? store?.watchCheckpoint("tracefs"))??.open == true { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let capture = Process()
        capture.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        capture.arguments = ["bash", repositoryRoot + "/scripts/capture-real.sh", "watch-live", temporary.directory]
        var environment = ProcessInfo.processInfo.environment
        environment["GMEM_CAPTURE_SCENARIO"] = "punch-and-retouch"
        environment["GMEM_CAPTURE_REPORT"] = "0"
        capture.environment = environment
        let errors = Pipe()
        capture.standardError = errors
        capture.standardOutput = FileHandle.nullDevice
        try capture.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        capture.waitUntilExit()
        var result = watch.stop(signal: SIGINT)
        #expect(result.status == 0, "\(result.stderr)")
        guard capture.terminationStatus == 0 else {
            if capture.terminationStatus == 77 { try Test.cancel(Comment(rawValue: message)) }
            Issue.record("capture-real.sh exited \(capture.terminationStatus): \(message)")
            return
        }
        watch = try WatchedProcess(["watch", "--db", temporary.path, "tracefs"])
        Thread.sleep(forTimeInterval: 0.5)
        result = watch.stop(signal: SIGINT)
        #expect(result.status == 0 && !result.stderr.contains("stopped without committing"), "\(result.stderr)")

        let offline = try TemporaryStore()
        _ = try MergeIngest().ingest([(temporary.directory + "/watch-live.trace", nil)], into: offline.store)
        // Each instance stamps an event when it writes it into its own ring buffer, so the two
        // copies' times differ by a microsecond or so: events are compared without `ts`, the
        // offline ones as one run inside the watched ones of the capture's window (± 50 µs).
        func bodies(_ store: Store) throws -> [(ts: Int64, body: String)] {
            var out: [(Int64, String)] = []
            let head = try store.headLink().seq
            guard head > 0 else { return [] }
            try store.forEachEvent(in: 1...head) { stored in
                var event = stored.event
                event.source = nil
                let ts = event.ts ?? 0
                event.ts = nil
                out.append((ts, event.canonicalJSON))
                return true
            }
            return out
        }
        let expected = try bodies(offline.store).map(\.body)
        let offlineTimes = try bodies(offline.store).map(\.ts)
        #expect(expected.count > 20, "the capture's trace gave only \(expected.count) events")
        guard let first = offlineTimes.first, let last = offlineTimes.last else { return }
        let watched = try bodies(Store(path: temporary.path, access: .readOnly(immutable: false)))
            .filter { $0.ts >= first - 50_000 && $0.ts <= last + 50_000 }.map(\.body)
        let found = watched.count >= expected.count
            && (0...(watched.count - expected.count)).contains { Array(watched[$0..<($0 + expected.count)]) == expected }
        #expect(found, "the \(expected.count) events of the offline ingest are not one run of the \(watched.count) watched in the capture's window")
    }
}

// MARK: Helpers

/// A `gmem-audit` child whose stdout is read line by line as it comes.
final class WatchedProcess {
    let process: Process
    private let out: Int32
    private var buffer: [UInt8] = []

    init(_ arguments: [String]) throws {
        process = try startCLI(arguments)
        out = (process.standardOutput as! Pipe).fileHandleForReading.fileDescriptor
        _ = fcntl(out, F_SETFL, fcntl(out, F_GETFL) | O_NONBLOCK)
    }

    /// Waits briefly for the child to start (kept for symmetry with other waits).
    func waitForStderr(_ text: String, orExit: Bool, seconds: Double) throws {}

    /// The next line the child prints within `seconds`, nil when none came.
    func nextStdoutLine(seconds: Double) throws -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeFirst(newline + 1)
                return line
            }
            var descriptor = pollfd(fd: out, events: Int16(POLLIN), revents: 0)
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            _ = poll(&descriptor, 1, Int32(left * 1000) + 1)
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { read(out, $0.baseAddress, $0.count) }
            if count > 0 { buffer += chunk[..<count] } else if count == 0 { return nil }
        }
    }

    /// Sends `signal` and collects the child's exit and output.
    func stop(signal: Int32) -> ProcessResult {
        kill(process.processIdentifier, signal)
        return wait(seconds: 60)
    }

    /// Waits for the child to end on its own (SIGKILL after `seconds`).
    func wait(seconds: Double) -> ProcessResult {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        _ = fcntl(out, F_SETFL, fcntl(out, F_GETFL) & ~O_NONBLOCK)
        var result = finish(process)
        result.stdout = String(decoding: buffer, as: UTF8.self) + result.stdout
        buffer.removeAll()
        return result
    }
}

func append(_ text: String, to path: String) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    handle.seekToEndOfFile()
    handle.write(Data(text.utf8))
    try handle.close()
}

/// Waits until the store's checkpoint for `source` has reached `offset`.
func waitForCheckpoint(_ path: String, source: String, offset: UInt64, seconds: Double = 60) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if access(path, F_OK) == 0, let store = try? Store(path: path, access: .readOnly(immutable: false)),
            let checkpoint = try? store.watchCheckpoint(source), checkpoint.offset == offset
        {
            return
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
    Issue.record("the checkpoint of \(source) never reached byte \(offset)")
}

/// The head (seq, hash) of the store at `path`.
func head(of path: String) throws -> [UInt8] {
    let store = try Store(path: path, access: .readOnly(immutable: false))
    let link = try store.headLink()
    return [UInt8](String(link.seq).utf8) + link.hash
}

/// The head a clean `ingest` of `text`, kept under the name `name`, gives.
func cleanHead(of text: String, named name: String) throws -> [UInt8] {
    let clean = try TemporaryStore()
    let store = clean.store
    _ = try store.ingest(source: name, format: "jsonl") { writer in
        try JSONLIngest().read(LineReader(name: name, contents: Array(text.utf8)), into: writer)
        return nil
    }
    let link = try store.headLink()
    return [UInt8](String(link.seq).utf8) + link.hash
}
