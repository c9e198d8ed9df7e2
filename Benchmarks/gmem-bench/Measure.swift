import CBenchHeap
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

/// One line of the result table: what was measured, how much, how fast, against which
/// baseline, and the target the ratio is held to.
struct Figure {
    var name: String
    var items: Int
    var seconds: Double
    /// The baseline's name and rate, when the figure has a ratio.
    var baseline: (name: String, rate: Double)?
    /// The lowest acceptable ratio, when there is a target.
    var target: Double?
    var note: String = ""

    var rate: Double { seconds > 0 ? Double(items) / seconds : 0 }
    var ratio: Double? { baseline.map { $0.rate > 0 ? rate / $0.rate : 0 } }

    var cells: [String] {
        let ratioText = ratio.map { String(format2: $0) + "×" } ?? "—"
        var targetText = "—"
        if let target, let ratio {
            targetText = "≥ \(String(format2: target))× " + (ratio >= target ? "met" : "MISSED by \(String(format2: target - ratio))×")
        }
        return [
            name, "\(items)", String(format3: seconds), rateText(rate), baseline?.name ?? "—", ratioText, targetText, note,
        ]
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
    let gib = 1_073_741_824.0, mib = 1_048_576.0, kib = 1024.0
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
