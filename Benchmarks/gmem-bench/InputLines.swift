#if canImport(Glibc)
import Glibc
#endif

/// An input file mapped into memory, read line by line as the raw baselines read it: no copy,
/// no decoding, each line a slice of the mapping without its newline.
final class MappedFile {
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw BenchError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw BenchError("\(path): cannot stat: \(String(cString: strerror(errno)))") }
        let size = Int(status.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw BenchError("\(path): cannot map: \(String(cString: strerror(errno)))")
        }
        madvise(base, size, MADV_SEQUENTIAL)
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    /// Calls `body` with each line (without its `\n`; a last line without one counts too).
    func forEachLine(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard let base = bytes.baseAddress else { return }
        var start = 0
        let end = bytes.count
        while start < end {
            let rest = end - start
            let newline = memchr(base + start, 0x0A, rest)
            let length = newline.map { UnsafeRawPointer($0) - (base + start) } ?? rest
            try body(UnsafeRawBufferPointer(start: base + start, count: length))
            start += length + 1
        }
    }
}

/// The minimal reading of a line's time that the raw baselines do: enough to fill a `ts`
/// column, nothing else of the line is looked at.
enum LineTime {
    /// A JSON Lines event's `ts`: the integer after the first `"ts":` in the line, or nil when
    /// there is none. It does not parse the JSON: a `"ts":` inside a string would be taken too,
    /// which the generated logs never have.
    static func json(_ line: UnsafeRawBufferPointer) -> Int64? {
        guard let base = line.baseAddress else { return nil }
        var index = 0
        while index + 5 <= line.count {
            guard let quote = memchr(base + index, 0x22, line.count - index) else { return nil }
            index = UnsafeRawPointer(quote) - base
            if index + 5 <= line.count, line[index + 1] == 0x74, line[index + 2] == 0x73, line[index + 3] == 0x22, line[index + 4] == 0x3A {
                index += 5
                while index < line.count, line[index] == 0x20 { index += 1 }
                return digits(line, from: &index)
            }
            index += 1
        }
        return nil
    }

    /// A tracefs line's time in nanoseconds: the `SECONDS.MICROSECONDS` before the first `: `
    /// after the CPU field (`task-pid [000] flags 731.001000: event: …`), or nil (a comment).
    static func trace(_ line: UnsafeRawBufferPointer) -> Int64? {
        guard let base = line.baseAddress, let bracket = memchr(base, 0x5D, line.count) else { return nil }
        var index = UnsafeRawPointer(bracket) - base + 1
        while index + 1 < line.count, !(line[index] == 0x3A && line[index + 1] == 0x20) { index += 1 }
        guard index + 1 < line.count else { return nil }
        var start = index
        while start > 0, line[start - 1] != 0x20 { start -= 1 }
        guard let seconds = digits(line, from: &start) else { return nil }
        var nanoseconds = seconds &* 1_000_000_000
        if start < index, line[start] == 0x2E {
            start += 1
            var scale: Int64 = 100_000_000
            while start < index, scale > 0, line[start] >= 0x30, line[start] <= 0x39 {
                nanoseconds &+= Int64(line[start] - 0x30) &* scale
                scale /= 10
                start += 1
            }
        }
        return nanoseconds
    }

    /// An optionally negative run of decimal digits at `index`, which it moves past them.
    private static func digits(_ line: UnsafeRawBufferPointer, from index: inout Int) -> Int64? {
        var negative = false
        if index < line.count, line[index] == 0x2D {
            negative = true
            index += 1
        }
        var value: Int64 = 0
        var seen = false
        while index < line.count, line[index] >= 0x30, line[index] <= 0x39 {
            value = value &* 10 &+ Int64(line[index] - 0x30)
            seen = true
            index += 1
        }
        return seen ? (negative ? -value : value) : nil
    }
}
