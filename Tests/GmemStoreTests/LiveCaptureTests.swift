import Foundation
import GmemStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Re-captures a real trace on this machine's KVM (scripts/capture-real.sh) and checks that the
/// merge of its JSONL and trace replays to the pages the guest really had mapped. Runs only as
/// root with a usable /dev/kvm; elsewhere it is skipped and says why.
/// Serialized: a tracefs instance records kvm events of the whole machine, so two captures at
/// once would each see the other's VM.
@Suite(.serialized) struct LiveCaptureTests {
    /// Why a live capture cannot run here, or nil when it can be tried.
    static let unavailable: String? = {
        guard access("/dev/kvm", F_OK) == 0 else { return "no /dev/kvm on this machine" }
        guard geteuid() == 0 else { return "not root: a capture needs a tracefs instance" }
        let fd = open("/dev/kvm", O_RDWR)
        guard fd >= 0 else { return "/dev/kvm cannot be opened read-write: \(String(cString: strerror(errno)))" }
        close(fd)
        guard access(TraceFixtures.root.appendingPathComponent("scripts/capture-real.sh").path, X_OK) == 0 else {
            return "scripts/capture-real.sh is missing or not executable"
        }
        return nil
    }()

    static var skipComment: Comment {
        Comment(rawValue: "live capture skipped: \(unavailable ?? "")")
    }

    /// Runs capture-real.sh (with `options`) for `scenario` into `directory`; the base path of
    /// its files, or nil when it failed (recorded) or cannot run here (the test is cancelled).
    static func capture(_ scenario: String, name: String, options: [String] = [], into directory: URL) throws -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bash", TraceFixtures.root.appendingPathComponent("scripts/capture-real.sh").path] + options + [name, directory.path]
        var environment = ProcessInfo.processInfo.environment
        environment["GMEM_CAPTURE_SCENARIO"] = scenario
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        switch process.terminationStatus {
        case 0:
            return directory.appendingPathComponent(name).path
        case 77:
            print("LiveCaptureTests: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
            try Test.cancel(Comment(rawValue: message.trimmingCharacters(in: .whitespacesAndNewlines)))
        default:
            Issue.record("capture-real.sh exited \(process.terminationStatus): \(message)")
            return nil
        }
    }

    /// `capture-real.sh --trace-dat`: the trace.dat trace-cmd extracts from the capture's own
    /// instance replays to the truth, and to the same state as the tracefs text of the same run.
    @Test(.enabled(if: unavailable == nil, skipComment), arguments: ["punch-and-retouch", "unbind-teardown"])
    func recapturedTraceDatReplaysToTheTruth(_ scenario: String) throws {
        let directory = try TraceFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        guard let base = try Self.capture(scenario, name: "live-dat-\(scenario)", options: ["--trace-dat"], into: directory) else { return }
        #expect(FileManager.default.fileExists(atPath: base + ".dat"), "the capture wrote no trace.dat")
        try TraceFixtures.checkCapture(jsonl: base + ".jsonl", trace: base + ".dat", truth: base + ".truth.json")
        var states: [GmemState] = []
        for trace in [base + ".dat", base + ".trace"] {
            let store = try TraceFixtures.store()
            _ = try MergeIngest().ingest([(base + ".jsonl", nil), (trace, nil)], into: store)
            states.append(try store.engine(at: try store.headLink().seq).state)
        }
        #expect(states[0] == states[1], "the trace.dat and the tracefs text of one run end in different states")
    }

    @Test(.enabled(if: unavailable == nil, skipComment), arguments: ["punch-and-retouch", "unbind-teardown"])
    func recapturedTraceReplaysToTheTruth(_ scenario: String) throws {
        let directory = try TraceFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        guard let base = try Self.capture(scenario, name: "live-\(scenario)", into: directory) else { return }
        #expect(FileManager.default.fileExists(atPath: base + ".trace"), "the capture wrote no trace")
        try TraceFixtures.checkCapture(jsonl: base + ".jsonl", trace: base + ".trace", truth: base + ".truth.json")
        if FileManager.default.fileExists(atPath: base + ".report.txt") {
            try TraceFixtures.checkCapture(jsonl: base + ".jsonl", trace: base + ".report.txt", truth: base + ".truth.json")
        }
    }
}
