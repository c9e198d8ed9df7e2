/// A policy: per rule, whether it runs and at what severity, and the exceptions that suppress
/// findings, each with the reason printed when it does. Built in code, or read from a YAML file
/// (JSON is YAML too) by the `GmemPolicy` library (`Policy.load(path:)`), which alone depends
/// on Yams; see docs/AUDIT.md. It applies when findings are printed, never to what is stored.
public struct Policy: Sendable {
    /// What the file says about one rule.
    public struct RuleSettings: Sendable {
        public var enabled = true
        public var severity: Severity?
        public var exceptions: [PolicyException] = []

        /// On, at the rule's own severity, no exceptions.
        public init() {}
    }

    /// Settings by rule id; rules not named keep their defaults.
    public var rules: [String: RuleSettings] = [:]
    /// Exceptions that apply to every rule.
    public var exceptions: [PolicyException] = []

    /// The empty policy: every rule on at its default severity, no exceptions.
    public init() {}

    /// Whether `rule` runs under this policy.
    public func isEnabled(_ rule: String) -> Bool { rules[rule]?.enabled ?? true }

    /// The severity `rule` reports at under this policy, given the severity it found.
    public func severity(of rule: String, found: Severity) -> Severity { rules[rule]?.severity ?? found }

    /// `finding` as this policy shows it: nil when its rule is off; otherwise with the
    /// policy's severity and the reason of the first exception that matches it, if any.
    public func judge(_ finding: Finding) -> JudgedFinding? {
        guard isEnabled(finding.rule) else { return nil }
        let exception = (rules[finding.rule]?.exceptions ?? []).first { $0.matches(finding) }
            ?? exceptions.first { $0.matches(finding) }
        return JudgedFinding(
            finding: finding, severity: severity(of: finding.rule, found: finding.severity), suppressedBecause: exception?.reason)
    }
}

/// A finding as a policy shows it.
public struct JudgedFinding: Equatable, Sendable {
    public var finding: Finding
    /// The severity after the policy.
    public var severity: Severity
    /// The reason of the exception that suppresses it, when one does.
    public var suppressedBecause: String?

    public init(finding: Finding, severity: Severity, suppressedBecause: String? = nil) {
        self.finding = finding
        self.severity = severity
        self.suppressedBecause = suppressedBecause
    }
}

/// An exception: a finding that matches every criterion given is suppressed, with `reason`.
public struct PolicyException: Sendable, Equatable {
    public var reason: String
    public var vm: String?
    public var gmem: String?
    /// File offsets within `gmem`: every range of the finding must lie inside.
    public var range: Range<UInt64>?
    public var host: String?
    public var seqs: ClosedRange<Int64>?
    /// Nanoseconds, like event times.
    public var times: ClosedRange<Int64>?

    public init(reason: String) {
        self.reason = reason
    }

    /// True when `finding` meets every criterion.
    public func matches(_ finding: Finding) -> Bool {
        if let vm, finding.vm != vm { return false }
        if let gmem {
            let fileRanges = finding.ranges.filter { $0.gmem != nil }
            guard !fileRanges.isEmpty, fileRanges.allSatisfy({ $0.gmem == gmem }) else { return false }
            if let range, !fileRanges.allSatisfy({ range.lowerBound <= $0.offset && $0.offset + $0.size <= range.upperBound }) {
                return false
            }
        }
        if let host, finding.host != host { return false }
        if let seqs, !seqs.contains(finding.seq) { return false }
        if let times {
            guard let ts = finding.ts, times.contains(ts) else { return false }
        }
        return true
    }
}

/// Why a policy file cannot be used: its `file:line` and what to change.
public struct PolicyError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int?
    public var message: String
    /// True when the file itself could not be read (missing), rather than being wrong.
    public var isMissing = false

    public init(file: String, line: Int?, message: String, isMissing: Bool = false) {
        self.file = file
        self.line = line
        self.message = message
        self.isMissing = isMissing
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
