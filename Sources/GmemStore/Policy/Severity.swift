/// How serious a finding is: Falco's eight levels, most serious first (POLICIES.md).
public enum Severity: String, CaseIterable, Sendable, Comparable {
    case emergency
    case alert
    case critical
    case error
    case warning
    case notice
    case informational
    case debug

    /// 0 for `emergency` … 7 for `debug`: a lower rank is more serious.
    public var rank: Int { Self.allCases.firstIndex(of: self)! }

    /// True when `self` is at least as serious as `threshold`.
    public func isAtLeast(_ threshold: Severity) -> Bool { rank <= threshold.rank }

    /// Orders from most to least serious, so a sorted list starts with the worst.
    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }

    /// The SARIF 2.1.0 `level` (POLICIES.md): `error` for emergency…error, `warning`, `note`
    /// for notice and informational, `none` for debug.
    public var sarifLevel: String {
        switch self {
        case .emergency, .alert, .critical, .error: "error"
        case .warning: "warning"
        case .notice, .informational: "note"
        case .debug: "none"
        }
    }

    /// Reads a level by name, accepting Falco's short forms `info` and `warn`.
    public init?(name: String) {
        switch name.lowercased() {
        case "info": self = .informational
        case "warn": self = .warning
        default:
            guard let value = Severity(rawValue: name.lowercased()) else { return nil }
            self = value
        }
    }
}
