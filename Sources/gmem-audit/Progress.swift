import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A progress line on stderr (events/s, % done, ETA), redrawn in place at most a few times a
/// second; silent when stderr is not a terminal, so logs and pipes stay clean.
final class Progress {
    private let label: String
    private let enabled: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(_ label: String) {
        self.label = label
        enabled = isatty(STDERR_FILENO) == 1
    }

    /// Reports `done` of `total` units (`unit` names them: events, bytes), `events` so far.
    func update(done: Int64, total: Int64, events: Int64) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.2 else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(start), 0.001)
        let rate = Double(events) / elapsed
        var line = "\(label): \(events) events, \(Int(rate)) events/s"
        if total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            line += String(format: ", %.1f%%", fraction * 100)
            if fraction > 0 {
                let remaining = elapsed * (1 - fraction) / fraction
                line += ", ETA \(Self.duration(remaining))"
            }
        }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        drawn = true
    }

    /// Clears the line.
    func finish() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total >= 3600 { return "\(total / 3600)h\(String(format: "%02d", total / 60 % 60))m" }
        if total >= 60 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
        return "\(total)s"
    }
}

/// Standard output with a 1 MiB buffer: a TextOutputStream for streaming exports.
struct BufferedStandardOutput: TextOutputStream {
    private var buffer: [UInt8] = []
    /// The errno of a failed write, if one failed.
    private(set) var failure: Int32?

    init() { buffer.reserveCapacity(1 << 20) }

    mutating func write(_ string: String) {
        buffer.append(contentsOf: string.utf8)
        if buffer.count >= 1 << 20 { flush() }
    }

    /// Writes bytes as they are (an input given back byte for byte).
    mutating func write(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { flush() }
    }

    mutating func flush() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
