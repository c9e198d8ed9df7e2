import Foundation
import GmemStore

#if canImport(Glibc)
import Glibc
#endif

/// What `watch` does with each new finding: prints it at once in the chosen format, runs the
/// `--exec` program with the finding in its environment, and notes a finding at or above
/// `--fail-on`.
final class FindingAlerts {
    let format: WatchCommand.Format
    let policy: Policy
    let failOn: Severity?
    let program: String?
    let arguments: [String]
    /// True once a finding at or above `failOn` was printed.
    private(set) var failed = false
    private var children: [pid_t] = []

    init(format: WatchCommand.Format, policy: Policy, failOn: Severity?, program: String?, arguments: [String]) {
        self.format = format
        self.policy = policy
        self.failOn = failOn
        self.program = program
        self.arguments = arguments
    }

    /// Prints `findings` (those the policy leaves shown) and runs the program for each.
    func deliver(_ findings: [Finding]) throws {
        let shown = findings.compactMap(policy.judge).filter { $0.suppressedBecause == nil }
        guard !shown.isEmpty else { return }
        switch format {
        case .text:
            for judged in shown { writeLine(Array(terminalSafe(Self.line(judged)).utf8)) }
        case .jsonl:
            writeLine(Array(FindingReport.jsonl(shown).utf8))
        case .sarif:
            writeLine(Array(FindingReport.sarif(shown, policy: policy).utf8))
        }
        if let program {
            for judged in shown { spawn(program, environment: Self.environment(judged)) }
        }
        if let failOn, shown.contains(where: { $0.severity.isAtLeast(failOn) }) { failed = true }
    }

    /// One finding as one text line.
    static func line(_ judged: JudgedFinding) -> String {
        let finding = judged.finding
        var range = finding.ranges.first?.text ?? "-"
        if finding.ranges.count > 1 { range += " (+\(finding.ranges.count - 1) more)" }
        var text = "\(judged.severity.rawValue.uppercased()) seq \(finding.seq) \(finding.rule) \(finding.name)"
        if let vm = finding.vm { text += " vm \(vm)" }
        text += " \(range): \(finding.message)"
        if !finding.related.isEmpty { text += " (related: \(finding.related.map(String.init).joined(separator: ",")))" }
        return text
    }

    /// The finding's fields as GMEM_* variables.
    static func environment(_ judged: JudgedFinding) -> [String: String] {
        let finding = judged.finding
        var variables = [
            "GMEM_RULE": finding.rule, "GMEM_NAME": finding.name, "GMEM_SEVERITY": judged.severity.rawValue,
            "GMEM_SEQ": String(finding.seq), "GMEM_HOST": finding.host, "GMEM_MESSAGE": finding.message,
            "GMEM_RANGES": finding.ranges.map(\.text).joined(separator: ";"),
            "GMEM_RELATED": finding.related.map(String.init).joined(separator: ","),
            "GMEM_JSON": FindingReport.jsonl([judged]),
        ]
        if let id = finding.id { variables["GMEM_FINDING_ID"] = String(id) }
        if let ts = finding.ts { variables["GMEM_TS"] = Timestamp.format(ts) }
        if let vm = finding.vm { variables["GMEM_VM"] = vm }
        if let gmem = finding.gmem { variables["GMEM_GMEM"] = gmem }
        if let offset = finding.offset { variables["GMEM_OFFSET"] = String(offset) }
        if let size = finding.size { variables["GMEM_SIZE"] = String(size) }
        if let kernel = finding.kernel { variables["GMEM_KERNEL"] = kernel.rawValue }
        return variables
    }

    /// Starts `program` with `arguments` and this process's environment plus `environment`,
    /// with posix_spawnp: no shell ever sees a value. SIGINT and SIGTERM are unblocked in it.
    private func spawn(_ program: String, environment: [String: String]) {
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GMEM_") || $0.key == "GMEM_DB" }
        for (key, value) in environment { merged[key] = value }
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, program, nil, &attributes, argv, envp)
        if status == 0 {
            children.append(pid)
        } else {
            printError("watch: cannot run --exec \(program): \(String(cString: strerror(status)))")
        }
    }

    /// Collects the programs that have finished.
    func reap() {
        children.removeAll { pid in
            var status: Int32 = 0
            return waitpid(pid, &status, WNOHANG) == pid
        }
    }

    /// Waits for every program still running.
    func waitForPrograms() {
        for pid in children {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        children.removeAll()
    }
}
