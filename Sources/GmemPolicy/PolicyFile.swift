import GmemStore
import Yams

// Reading a policy file: the one part of gmem that needs a YAML parser, kept in its own
// library so that a program using GmemStore alone is not pinned to Yams's exact version.

extension Policy {
    /// Reads a policy file.
    public static func load(path: String) throws(PolicyError) -> Policy {
        let text: String
        do {
            text = try readText(path)
        } catch {
            throw PolicyError(file: path, line: nil, message: "cannot read the policy file: \(error)", isMissing: true)
        }
        return try Policy(yaml: text, file: path)
    }

    private static func readText(_ path: String) throws -> String {
        let reader = try LineReader(path: path)
        var lines: [String] = []
        while try reader.next({ lines.append(String(decoding: $0, as: UTF8.self)) }) {}
        return lines.joined(separator: "\n")
    }

    /// Parses a policy from YAML (or JSON) text; `file` names it in errors.
    public init(yaml text: String, file: String) throws(PolicyError) {
        self.init()
        if let line = PolicyDepth.lineExceedingLimit(text) {
            throw PolicyError(
                file: file, line: line,
                message: "the policy nests deeper than \(PolicyDepth.limit) levels here; a policy needs six (rules, a rule, its exceptions, an exception, its range)")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw PolicyReader.syntaxError(error, file: file)
        } catch {
            throw PolicyError(file: file, line: nil, message: "not YAML: \(error)")
        }
        guard let root else { return }
        let reader = PolicyReader(file: file)
        let top = try reader.mapping(root, "the policy file", known: ["version", "rules", "exceptions"])
        for (key, value) in top {
            switch key.string {
            case "version":
                guard value.scalar?.string == "1" else { throw reader.error(value, "version must be 1") }
            case "rules":
                for (idNode, settingsNode) in try reader.mapping(value, "rules", known: nil) {
                    let id = idNode.scalar?.string ?? ""
                    guard RuleCatalog.rule(id) != nil else {
                        throw reader.error(idNode, "unknown rule '\(id)'; the rules are \(RuleCatalog.all.map(\.id).joined(separator: ", "))")
                    }
                    guard rules[id] == nil else { throw reader.error(idNode, "rule '\(id)' is given twice") }
                    rules[id] = try reader.settings(settingsNode, rule: id)
                }
            default:
                exceptions = try reader.exceptions(value, owner: "the top level")
            }
        }
    }
}

/// Reads policy YAML nodes, naming the line of anything wrong.
struct PolicyReader {
    let file: String

    func error(_ node: Node, _ message: String) -> PolicyError {
        PolicyError(file: file, line: node.mark?.line, message: message)
    }

    static func syntaxError(_ error: YamlError, file: String) -> PolicyError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return PolicyError(file: file, line: mark.line, message: "not valid YAML: \(problem)")
        default:
            return PolicyError(file: file, line: nil, message: "not valid YAML: \(error)")
        }
    }

    /// The pairs of a mapping whose keys are all in `known` (any key when nil), each once.
    func mapping(_ node: Node, _ what: String, known: [String]?) throws(PolicyError) -> [(key: Node, value: Node)] {
        guard case .mapping(let mapping) = node else { throw error(node, "\(what) must be a mapping") }
        var seen: Set<String> = []
        var pairs: [(key: Node, value: Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { throw error(key, "keys of \(what) must be plain names") }
            if let known, !known.contains(name) {
                throw error(key, "unknown field '\(name)' in \(what); the fields are \(known.joined(separator: ", "))")
            }
            guard seen.insert(name).inserted else { throw error(key, "'\(name)' is given twice in \(what)") }
            pairs.append((key, value))
        }
        return pairs
    }

    func settings(_ node: Node, rule: String) throws(PolicyError) -> Policy.RuleSettings {
        var settings = Policy.RuleSettings()
        for (key, value) in try mapping(node, "rule \(rule)", known: ["enabled", "severity", "exceptions"]) {
            switch key.string {
            case "enabled":
                switch value.scalar?.string.lowercased() {
                case "true"?: settings.enabled = true
                case "false"?: settings.enabled = false
                default: throw error(value, "enabled of \(rule) must be true or false")
                }
            case "severity":
                guard let name = value.scalar?.string, let severity = Severity(name: name) else {
                    throw error(value, "severity of \(rule) must be one of \(Severity.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                settings.severity = severity
            default:
                settings.exceptions = try exceptions(value, owner: "rule \(rule)")
            }
        }
        return settings
    }

    func exceptions(_ node: Node, owner: String) throws(PolicyError) -> [PolicyException] {
        guard case .sequence(let items) = node else { throw error(node, "exceptions of \(owner) must be a list") }
        var result: [PolicyException] = []
        for item in items {
            let pairs = try mapping(item, "an exception of \(owner)", known: ["reason", "vm", "gmem", "range", "host", "seq", "time"])
            var exception = PolicyException(reason: "")
            var criteria = 0
            for (key, value) in pairs {
                let name = key.string ?? ""
                if name != "reason" { criteria += 1 }
                switch name {
                case "reason": exception.reason = try text(value, "reason")
                case "vm": exception.vm = try text(value, "vm")
                case "gmem": exception.gmem = try text(value, "gmem")
                case "host": exception.host = try text(value, "host")
                case "range":
                    let bounds = try window(value, "range", lower: "offset", upper: "size", parse: parseNumber)
                    guard let offset = bounds.0, let size = bounds.1, size > 0 else {
                        throw error(value, "range needs offset and size (bytes, decimal or 0x hex)")
                    }
                    exception.range = offset..<(offset + size)
                case "seq":
                    let bounds = try window(value, "seq", lower: "from", upper: "to") { UInt64($0) }
                    exception.seqs = Int64(bounds.0 ?? 0)...Int64(min(bounds.1 ?? UInt64(Int64.max), UInt64(Int64.max)))
                default:
                    let bounds = try window(value, "time", lower: "from", upper: "to") { Timestamp.parse($0).map { UInt64(bitPattern: $0) } }
                    exception.times = (bounds.0.map { Int64(bitPattern: $0) } ?? Int64.min)...(bounds.1.map { Int64(bitPattern: $0) } ?? Int64.max)
                }
            }
            guard !exception.reason.isEmpty else { throw error(item, "an exception of \(owner) needs a reason, printed when it suppresses a finding") }
            guard criteria > 0 else {
                throw error(item, "an exception of \(owner) must name at least one of vm, gmem, range, host, seq, time; to turn a rule off, set enabled: false")
            }
            if exception.range != nil, exception.gmem == nil { throw error(item, "a range exception needs the gmem it is in") }
            result.append(exception)
        }
        return result
    }

    private func text(_ node: Node, _ what: String) throws(PolicyError) -> String {
        guard let value = node.scalar?.string, !value.isEmpty else { throw error(node, "\(what) must be a non-empty text") }
        return value
    }

    /// `{LOWER: …, UPPER: …}`, either optional, each parsed by `parse`.
    private func window(
        _ node: Node, _ what: String, lower: String, upper: String, parse: (String) -> UInt64?
    ) throws(PolicyError) -> (UInt64?, UInt64?) {
        var bounds: (UInt64?, UInt64?) = (nil, nil)
        for (key, value) in try mapping(node, what, known: [lower, upper]) {
            guard let text = value.scalar?.string, let parsed = parse(text) else {
                throw error(value, "\(what) \(key.string ?? "") cannot be read: '\(value.scalar?.string ?? "")'")
            }
            if key.string == lower { bounds.0 = parsed } else { bounds.1 = parsed }
        }
        guard bounds.0 != nil || bounds.1 != nil else { throw error(node, "\(what) needs \(lower) or \(upper)") }
        return bounds
    }
}
