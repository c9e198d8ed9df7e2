import ArgumentParser
import Foundation
import GmemPolicy
import GmemStore

#if canImport(Glibc)
import Glibc
#endif

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow live sources, commit small batches, audit each, print new findings as they happen.",
        discussion: """
            A SOURCE is `tracefs` (an instance of watch's own under /sys/kernel/tracing/instances with trace_clock=mono \
            and the kvm, kvmmmu and iommu events, read from its trace_pipe and removed on exit), `-` (standard input), \
            a FIFO, or a file followed like tail -F (rotation and truncation included). Several sources are merged by \
            time as ingest --merge does; a source idle for longer than --watermark-ms does not hold the others back, and \
            an event older than what was already appended is appended as it arrives and counted as late.
            A batch is committed at most every --batch-events lines or --batch-ms milliseconds, with a checkpoint per \
            source in the same transaction: restarted, watch continues a file where it stopped, even after SIGKILL. \
            SIGINT or SIGTERM commits what was read, prints a summary on stderr and exits 0 (docs/WATCH.md).
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, jsonl, sarif
    }

    @OptionGroup var store: StoreOptions

    @Option(help: "How findings are printed: one text line each, one JSON object a line, or one SARIF log per batch that found something.")
    var format: Format = .text

    @Option(name: .customLong("fail-on"), help: "Stop (commit, summary) and exit 1 at the first finding at or above this severity (emergency … debug).")
    var failOn: SeverityOption?

    @Option(help: "Run this program for each finding, with the finding in GMEM_* environment variables; run directly with an argv (PATH searched), never through a shell.")
    var exec: String?

    @Option(name: .customLong("exec-arg"), help: "An argument for the --exec program (repeat for several).")
    var execArgs: [String] = []

    @Option(help: "A policy file (YAML or JSON) that changes severities, turns rules off and suppresses findings in what is printed.")
    var policy: String?

    @Option(name: .customLong("batch-events"), help: "Commit a batch after this many lines at most.")
    var batchEvents: Int = 1000

    @Option(name: .customLong("batch-ms"), help: "Commit a batch at most this many milliseconds after its first line was read.")
    var batchMilliseconds: Int = 20

    @Option(name: .customLong("watermark-ms"), help: "A source silent for longer than this no longer holds the others back in the merge.")
    var watermarkMilliseconds: Int = 200

    @Option(help: "The VM that trace lines belong to (default: the only VM alive at that point of the log).")
    var vm: String?

    @Option(help: "The kernel profile (rfc-2025 or upstream-2026) for VMs whose vm_create names none (default upstream-2026).")
    var kernel: KernelProfile?

    @Option(help: "Cut the store into a chain: when it reaches SIZE bytes (with a K, M or G suffix) or has been written for AGE (30s, 10min, 1h, 1d), it is renamed DB.N (before the extension) and a new store at --db continues it (docs/STORE.md, \"A chain of stores\").")
    var rotate: RotateLimit?

    @Argument(help: "tracefs, - (standard input), a FIFO, or a file to follow.")
    var sources: [String]

    func validate() throws {
        if sources.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be read only once") }
        if sources.filter({ $0 == "tracefs" }).count > 1 { throw ValidationError("tracefs can be named only once") }
        if Set(sources).count != sources.count { throw ValidationError("a source is named twice") }
        if batchEvents < 1 { throw ValidationError("--batch-events must be at least 1") }
        if batchMilliseconds < 1 { throw ValidationError("--batch-ms must be at least 1") }
        if watermarkMilliseconds < 0 { throw ValidationError("--watermark-ms cannot be negative") }
    }

    func run() throws {
        let policy = try loadPolicy(at: policy)
        // SIGINT and SIGTERM stay pending (blocked) until the loop takes them with sigtimedwait:
        // no handler runs in the middle of a batch.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        sigprocmask(SIG_BLOCK, &signals, nil)
        var instance: TracefsInstance?
        var inputs: [FollowedInput] = []
        do {
            for source in sources {
                switch source {
                case "-":
                    inputs.append(FollowedInput(stream: dup(STDIN_FILENO), name: "<stdin>"))
                case "tracefs":
                    let mountPoint = try TracefsInstance.mountPoint()
                    for name in TracefsInstance.removeStale(tracefs: mountPoint) {
                        printError("watch: removed the tracefs instance \(name) of a watch that no longer runs")
                    }
                    let made = try TracefsInstance(tracefs: mountPoint)
                    instance = made
                    printError("watch: tracing \(made.enabled.joined(separator: ", ")) into \(made.directory) (trace_clock=mono)")
                    inputs.append(FollowedInput(stream: try made.openPipe(), name: "tracefs"))
                default:
                    inputs.append(try FollowedInput(path: source))
                }
            }
        } catch let failure as TracefsInstance.Failure {
            printError("gmem-audit: \(failure)")
            throw Exit.ioError
        } catch let error as StoreError {
            printError("gmem-audit: \(error)")
            throw Exit.code(for: error)
        }
        let session = try failing { try WatchSession(store: try self.store.openForWriting(), inputs: inputs) }
        defer {
            session.close()
            instance?.remove()
        }
        session.batchEvents = batchEvents
        session.batchInterval = UInt64(batchMilliseconds) * 1_000_000
        session.watermark = UInt64(watermarkMilliseconds) * 1_000_000
        if let vm { session.vm = vm }
        if let kernel { session.kernel = kernel }
        for note in session.notes { printError("watch: " + note) }
        for name in session.lostStreams {
            printError("watch: \(name): the previous watch stopped without committing what it had read from it; those lines are lost")
        }
        let alerts = FindingAlerts(format: format, policy: policy, failOn: failOn?.severity, program: exec, arguments: execArgs)
        session.onFindings = { found, _ in try alerts.deliver(found) }

        var stoppedBy = "the end of its input"
        do {
            try failing { try session.reportBacklog() }
            var zero = timespec()
            var storeStarted = monotonicNanoseconds()
            var lastRotationCheck = storeStarted
            var rotationCheckInterval: UInt64 = 100_000_000
            while true {
                let signal = sigtimedwait(&signals, nil, &zero)
                if signal == SIGINT || signal == SIGTERM {
                    stoppedBy = signal == SIGINT ? "SIGINT" : "SIGTERM"
                    break
                }
                let bytesRead = try failing { try session.step(now: monotonicNanoseconds()) }
                alerts.reap()
                if alerts.failed { stoppedBy = "--fail-on"; break }
                if session.finished { break }
                if let rotate, monotonicNanoseconds() &- lastRotationCheck >= rotationCheckInterval {
                    lastRotationCheck = monotonicNanoseconds()
                    if rotate.isReached(path: self.store.path, since: storeStarted, now: lastRotationCheck) {
                        let archive = RotateLimit.archiveName(for: self.store.path)
                        if try failing({ try session.rotate(path: self.store.path, archive: archive) }) {
                            storeStarted = monotonicNanoseconds()
                            rotationCheckInterval = 100_000_000
                            printError("watch: rotated: \(archive) holds the log up to here; \(self.store.path) continues it")
                        } else {
                            // Each try commits and reopens the store: not more than once every 5 s.
                            if rotationCheckInterval == 100_000_000 {
                                printError("watch: rotation postponed: another connection has \(self.store.path) open (renaming a store in use would give its readers the new store's WAL); trying again every 5 s")
                            }
                            rotationCheckInterval = 5_000_000_000
                        }
                    }
                }
                if bytesRead > 0 { continue }
                var timeout = session.followsFiles ? 5 : 50
                if let wait = session.nextDeadline(now: monotonicNanoseconds()) { timeout = min(timeout, Int((wait + 999_999) / 1_000_000)) }
                var descriptors = session.streamDescriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                _ = poll(&descriptors, nfds_t(descriptors.count), Int32(timeout))
            }
            try failing { try session.stop() }
        } catch let error as StoreError {
            printError("gmem-audit: \(error)")
            throw Exit.code(for: error)
        }
        alerts.waitForPrograms()
        var summary = "watch: stopped by \(stoppedBy): \(session.added) events in \(session.batches) batches, \(session.findings) findings; the log ends at seq \((try? session.store.headLink().seq) ?? 0)"
        if !session.lostStreams.isEmpty { summary += "; lost (unclean stop before): \(session.lostStreams.joined(separator: ", "))" }
        if session.rotations > 0 { summary += "; \(session.rotations) rotation\(session.rotations == 1 ? "" : "s") of the store" }
        printError(summary)
        for line in session.sourceSummaries { printError("  " + line) }
        if alerts.failed { throw Exit.findings }
    }
}

/// When `watch --rotate` cuts the store: at a size of the store's files, or an age.
struct RotateLimit: ExpressibleByArgument {
    enum Kind {
        case size(UInt64)
        case age(UInt64)
    }

    var kind: Kind

    init?(argument: String) {
        let units: [(String, UInt64)] = [("min", 60), ("s", 1), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where argument.hasSuffix(suffix) {
            guard let count = UInt64(argument.dropLast(suffix.count)), count > 0 else { return nil }
            kind = .age(count * seconds * 1_000_000_000)
            return
        }
        guard let bytes = parseByteCount(argument), bytes > 0 else { return nil }
        kind = .size(bytes)
    }

    /// True when the store at `path` (with its WAL) is at least the size, or was started at
    /// least the age ago.
    func isReached(path: String, since started: UInt64, now: UInt64) -> Bool {
        switch kind {
        case .age(let age):
            return now &- started >= age
        case .size(let size):
            var total: UInt64 = 0
            for suffix in ["", "-wal"] {
                var info = stat()
                if stat(path + suffix, &info) == 0 { total += UInt64(info.st_size) }
            }
            return total >= size
        }
    }

    /// The first free name `gmem.1.db`, `gmem.2.db` … for the store at `path` (`PATH.N` when it
    /// has no extension).
    static func archiveName(for path: String) -> String {
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        let dot = path[slash...].lastIndex(of: ".")
        var number = 1
        while true {
            let name = dot.map { String(path[..<$0]) + ".\(number)" + String(path[$0...]) } ?? path + ".\(number)"
            if access(name, F_OK) != 0 { return name }
            number += 1
        }
    }
}
