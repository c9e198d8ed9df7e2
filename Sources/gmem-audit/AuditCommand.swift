import ArgumentParser
import GmemPolicy
import GmemStore

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Run every rule of the policy catalog over the events not yet audited, store the findings, print them.",
        discussion: """
            Findings are stored with the rules' own severities; --policy changes severities, turns rules off and \
            suppresses findings only in what is printed. --since/--until choose the findings printed (by the seq or \
            time of their triggering event); the whole log is always audited. Exit 1 when a printed finding is at \
            or above --fail-on.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, jsonl, csv, sarif
    }

    @OptionGroup var store: StoreOptions

    @Option(help: "A policy file (YAML or JSON): per-rule enabled/severity and exceptions. See docs/AUDIT.md.")
    var policy: String?

    @Option(help: "Output format.")
    var format: Format = .text

    @Option(name: .customLong("fail-on"), help: "Exit 1 when a finding is at or above this severity (emergency … debug).")
    var failOn: SeverityOption = SeverityOption(severity: .error)

    @Option(help: "Only findings from this seq, or RFC 3339 time, on.")
    var since: LogPoint?

    @Option(help: "Only findings up to this seq, or RFC 3339 time.")
    var until: LogPoint?

    @Flag(name: .customLong("show-suppressed"), help: "Also print the findings an exception suppresses, with its reason.")
    var showSuppressed = false

    @Option(help: "What-if: judge every VM as if it ran this kernel profile (rfc-2025 or upstream-2026); audits the whole log again and stores nothing.")
    var kernel: KernelProfile?

    func run() throws {
        let policy = try loadPolicy(at: policy)
        guard store.exists else {
            printError("gmem-audit: \(StoreError.missingStore(path: store.path))")
            throw Exit.noInput
        }
        if let kernel {
            let store = try failing { () throws(StoreError) in try Store(path: self.store.path, access: .readOnly(immutable: false)) }
            printError("audit: what-if: every VM judged as \(kernel.rawValue); the whole log audited again, nothing stored")
            let (findings, from, to) = try failing { () throws -> ([Finding], Int64, Int64) in
                let head = try store.headLink().seq
                let (from, to) = try window(in: store, head: head)
                return (from <= to ? try store.findings(judgingAs: kernel, in: from...to) : [], from, to)
            }
            try show(findings, policy: policy, from: from, to: to)
            return
        }
        let store = try self.store.openForWriting()
        let progress = Progress("audit")
        var started: Int64?
        let summary = try failing {
            try store.audit(chunk: 20_000) { done, head in
                started = started ?? done - 20_000
                progress.update(done: done - (started ?? 0), total: head - (started ?? 0), events: done - (started ?? 0))
            }
        }
        progress.finish()
        if let reason = summary.restartReason { printError("audit: re-audited the whole log: \(reason)") }
        printError("audit: \(summary.audited) new event\(summary.audited == 1 ? "" : "s") audited, \(summary.added) new finding\(summary.added == 1 ? "" : "s"); the log ends at seq \(summary.head)")
        let (from, to) = try failing { try window(in: store, head: summary.head) }
        let findings = try failing { from <= to ? try store.namingKernels(try store.findings(in: from...to)) : [] }
        try show(findings, policy: policy, from: from, to: to)
    }

    /// The seqs `--since` and `--until` choose, within 1…`head`.
    private func window(in store: Store, head: Int64) throws -> (Int64, Int64) {
        let from = try since.map { point -> Int64 in
            switch point {
            case .seq(let seq): return seq
            case .time(let time): return try store.seq(atTime: time &- 1) + 1
            }
        } ?? 1
        let to = try until.map { try $0.seq(in: store) } ?? head
        return (max(from, 1), min(to, head))
    }

    /// Prints `findings` judged by `policy` in the chosen format; exit 1 at or above --fail-on.
    private func show(_ findings: [Finding], policy: Policy, from: Int64, to: Int64) throws {
        let judged = findings.compactMap(policy.judge)
        let suppressed = judged.filter { $0.suppressedBecause != nil }.count
        let shown = showSuppressed ? judged : judged.filter { $0.suppressedBecause == nil }
        switch format {
        case .text: print(FindingReport.text(shown, from: from, to: to, suppressed: suppressed))
        case .json: print(FindingReport.json(shown))
        case .jsonl: if !shown.isEmpty { print(FindingReport.jsonl(shown)) }
        case .csv: print(FindingReport.csv(shown))
        case .sarif: print(FindingReport.sarif(shown, policy: policy))
        }
        if shown.contains(where: { $0.suppressedBecause == nil && $0.severity.isAtLeast(failOn.severity) }) {
            throw Exit.findings
        }
    }
}

/// The policy file at `path` (the catalog's defaults when nil); a missing file exits 66, a
/// malformed one 65, with the reason on stderr (`audit --policy`, `watch --policy`).
func loadPolicy(at path: String?) throws -> Policy {
    guard let path else { return Policy() }
    do throws(PolicyError) {
        return try Policy.load(path: path)
    } catch {
        printError("gmem-audit: \(error)")
        throw error.isMissing ? Exit.noInput : Exit.dataError
    }
}

/// A severity named on the command line.
struct SeverityOption: ExpressibleByArgument {
    var severity: Severity

    init(severity: Severity) {
        self.severity = severity
    }

    init?(argument: String) {
        guard let severity = Severity(name: argument) else { return nil }
        self.severity = severity
    }

    var defaultValueDescription: String { severity.rawValue }

    static var allValueStrings: [String] { Severity.allCases.map(\.rawValue) }
}
