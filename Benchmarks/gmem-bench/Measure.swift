import CBenchHeap
import GmemStore
#if canImport(Glibc)
import Glibc
#endif

/// Why the benchmark stopped: what went wrong and where.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Seconds taken by `body`, on the monotonic clock.
func seconds<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let clock = ContinuousClock()
    var result: T?
    let elapsed = try clock.measure { result = try body() }
    let parts = elapsed.components
    return (result!, Double(parts.seconds) + Double(parts.attoseconds) / 1e18)
}

/// This process's peak resident set so far, in bytes (getrusage `ru_maxrss`).
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Int(usage.ru_maxrss) * 1024
}

/// Bytes of heap in use now (glibc `mallinfo2`: allocated chunks, arena and mmapped).
func heapBytesInUse() -> Int {
    Int(gmem_bench_heap_in_use())
}

/// What a row's value counts.
enum Unit: String {
    case eventsPerSecond = "events/s"
    case rowsPerSecond = "rows/s"
    case mebibytesPerSecond = "MiB/s"
    case bytesPerEvent = "bytes/event"
    case bytes = "bytes"
    case milliseconds = "ms"

    func text(_ value: Double) -> String {
        switch self {
        case .eventsPerSecond, .rowsPerSecond: rateText(value)
        case .mebibytesPerSecond: String(format2: value) + " MiB/s"
        case .bytesPerEvent: String(format2: value) + " B/event"
        case .bytes: bytesText(Int(value))
        case .milliseconds: String(format2: value) + " ms"
        }
    }
}

/// One line of the results: a figure held to a target, a baseline, or information.
struct Row {
    enum Kind: String {
        /// One of issue 11's figures, with its target.
        case figure
        /// A raw baseline (B1–B4) that figures are divided by.
        case baseline
        /// Shown for context; no target.
        case info
    }

    /// What a figure must reach.
    enum Target {
        /// value ÷ baseline at least this.
        case ratioAtLeast(Double)
        /// value at most this (in the row's unit).
        case valueAtMost(Double)
    }

    /// A stable key for `--json` readers (docs are regenerated from it).
    var id: String
    var kind: Kind
    var name: String
    var value: Double
    var unit: Unit
    /// The baseline row this one is divided by.
    var baseline: (id: String, name: String, value: Double, unit: Unit)?
    var target: Target?
    var note = ""

    init(id: String, kind: Kind, name: String, value: Double, unit: Unit, baseline: Row? = nil, target: Target? = nil, note: String = "") {
        self.id = id
        self.kind = kind
        self.name = name
        self.value = value
        self.unit = unit
        self.baseline = baseline.map { ($0.id, $0.name, $0.value, $0.unit) }
        self.target = target
        self.note = note
    }

    /// A rate row: `items` per second over `seconds`.
    static func rate(
        id: String, kind: Kind, name: String, items: Int, seconds: Double, unit: Unit = .eventsPerSecond, baseline: Row? = nil,
        target: Target? = nil, note: String = ""
    ) -> Row {
        let scale = unit == .mebibytesPerSecond ? 1_048_576.0 : 1
        let value = seconds > 0 ? Double(items) / scale / seconds : 0
        let what = unit == .mebibytesPerSecond ? bytesText(items) : "\(items)"
        let timing = "\(what) in \(String(format3: seconds)) s"
        return Row(id: id, kind: kind, name: name, value: value, unit: unit, baseline: baseline, target: target, note: note.isEmpty ? timing : timing + "; " + note)
    }

    var ratio: Double? { baseline.map { $0.value > 0 ? value / $0.value : 0 } }

    /// Whether the target is met, and by how much it is missed (in the target's terms).
    var verdict: (met: Bool, missedBy: Double)? {
        switch target {
        case .ratioAtLeast(let minimum): ratio.map { ($0 >= minimum, max(0, minimum - $0)) }
        case .valueAtMost(let maximum): (value <= maximum, max(0, value - maximum))
        case nil: nil
        }
    }

    var cells: [String] {
        let ratioText = ratio.map { String(format2: $0) + "×" } ?? "—"
        var targetText = "—"
        var verdictText = "—"
        switch target {
        case .ratioAtLeast(let minimum): targetText = "≥ \(String(format2: minimum))×"
        case .valueAtMost(let maximum): targetText = "≤ \(unit.text(maximum))"
        case nil: break
        }
        if let verdict, let target {
            if verdict.met {
                verdictText = "met"
            } else if case .ratioAtLeast = target {
                verdictText = "MISSED by \(String(format2: verdict.missedBy))×"
            } else {
                verdictText = "MISSED by \(unit.text(verdict.missedBy))"
            }
        }
        let name = kind == .info ? "(info) " + self.name : self.name
        return [name, unit.text(value), baseline.map { $0.unit.text($0.value) } ?? "—", ratioText, targetText, verdictText, note]
    }

    var json: JSONValue {
        var members = [
            JSONMember("id", .string(id)), JSONMember("kind", .string(kind.rawValue)), JSONMember("name", .string(name)),
            JSONMember("value", number(value)), JSONMember("unit", .string(unit.rawValue)),
        ]
        if let baseline {
            members.append(JSONMember("baseline", .object([
                JSONMember("id", .string(baseline.id)), JSONMember("name", .string(baseline.name)),
                JSONMember("value", number(baseline.value)), JSONMember("unit", .string(baseline.unit.rawValue)),
            ])))
        }
        if let ratio { members.append(JSONMember("ratio", number(ratio))) }
        switch target {
        case .ratioAtLeast(let minimum):
            members.append(JSONMember("target", .object([JSONMember("ratio_at_least", number(minimum))])))
        case .valueAtMost(let maximum):
            members.append(JSONMember("target", .object([JSONMember("value_at_most", number(maximum))])))
        case nil: break
        }
        if let verdict {
            members.append(JSONMember("met", .bool(verdict.met)))
            members.append(JSONMember("missed_by", number(verdict.missedBy)))
        }
        members.append(JSONMember("note", .string(note)))
        return .object(members)
    }
}

/// A JSON number, or null for a value JSON cannot hold.
func number(_ value: Double) -> JSONValue {
    value.isFinite ? .number("\(value)") : .null
}

/// The results of one command: context lines, then rows; printed as a table or as JSON.
struct Results {
    var command: String
    /// Settings and context: name and value (a number or text).
    var context: [(String, JSONValue)] = []
    var rows: [Row] = []

    /// Whether this binary was built for release (a debug build's figures mean nothing).
    static var buildConfiguration: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    /// The results as one JSON object.
    var json: String {
        let object: JSONValue = .object(
            [JSONMember("tool", .string("gmem-bench")), JSONMember("command", .string(command)), JSONMember("build", .string(Self.buildConfiguration))]
                + context.map { JSONMember($0.0, $0.1) } + [JSONMember("rows", .array(rows.map(\.json)))])
        return JSONWriter.string(object, sortsKeys: false)
    }

    /// Prints the results (as JSON with `json`), and writes the JSON to `jsonFile` when given.
    func printed(json: Bool, jsonFile: String? = nil) throws {
        if let jsonFile {
            guard let file = fopen(jsonFile, "wb") else { throw BenchError("\(jsonFile): cannot create: \(String(cString: strerror(errno)))") }
            var text = self.json + "\n"
            text.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, file) }
            let failed = ferror(file) != 0
            guard fclose(file) == 0, !failed else { throw BenchError("\(jsonFile): write failed") }
        }
        if json {
            print(self.json)
            return
        }
        if Self.buildConfiguration != "release" { print("WARNING: a \(Self.buildConfiguration) build; its figures mean nothing") }
        for (name, value) in context {
            switch value {
            case .string(let text): print("\(name): \(text)")
            default: print("\(name): \(JSONWriter.string(value))")
            }
        }
        print("")
        print(table(header: ["figure", "rate", "baseline rate", "ratio", "target", "met / missed by", "measured"], rows: rows.map(\.cells)))
    }
}

/// Events per second as people read it: 1.23 M/s, 456 k/s.
func rateText(_ rate: Double) -> String {
    if rate >= 1e6 { return String(format2: rate / 1e6) + " M/s" }
    if rate >= 1e3 { return String(format2: rate / 1e3) + " k/s" }
    return String(format2: rate) + " /s"
}

/// Bytes as people read them.
func bytesText(_ bytes: Int) -> String {
    let value = Double(bytes)
    let tib = 1_099_511_627_776.0, gib = 1_073_741_824.0, mib = 1_048_576.0, kib = 1024.0
    if value >= tib { return String(format2: value / tib) + " TiB" }
    if value >= gib { return String(format2: value / gib) + " GiB" }
    if value >= mib { return String(format2: value / mib) + " MiB" }
    if value >= kib { return String(format2: value / kib) + " KiB" }
    return "\(bytes) B"
}

extension String {
    /// A number with two decimals.
    init(format2 value: Double) { self = Self.fixed(value, 2) }
    /// A number with three decimals.
    init(format3 value: Double) { self = Self.fixed(value, 3) }

    private static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled) - whole * Int(scale)
        var digits = String(fraction)
        while digits.count < decimals { digits = "0" + digits }
        return (value < 0 ? "-" : "") + "\(whole)." + digits
    }
}

/// Prints progress to standard error, so that standard output holds only the results.
func progress(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
