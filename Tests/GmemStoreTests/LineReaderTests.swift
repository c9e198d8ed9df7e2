import Crypto
import Foundation
import Testing
@testable import GmemStore

/// `LineReader`: line ends, line numbers and logical offsets, the line limit, compressed input
/// read directly, and the raw bytes it hashes and shows to its observer.
@Suite struct LineReaderTests {
    /// Every line of `reader` with its number, offset, and whether it was terminated or cut.
    static func lines(_ reader: LineReader) throws -> [(text: String, number: UInt64, offset: UInt64, terminated: Bool, cut: Bool)] {
        var lines: [(String, UInt64, UInt64, Bool, Bool)] = []
        while try reader.next({ bytes in
            lines.append((String(decoding: bytes, as: UTF8.self), reader.lineNumber, reader.lineOffset, reader.lineWasTerminated, reader.lineWasCut))
        }) {}
        return lines.map { (text: $0.0, number: $0.1, offset: $0.2, terminated: $0.3, cut: $0.4) }
    }

    static func texts(_ contents: [UInt8]) throws -> [String] {
        try lines(LineReader(name: "m", contents: contents)).map(\.text)
    }

    @Test func lfCrlfAndLoneCrEachEndALine() throws {
        let read = try Self.lines(LineReader(name: "m", contents: Array("a\nbb\r\nccc\rdd\r\r\nee".utf8)))
        #expect(read.map(\.text) == ["a", "bb", "ccc", "dd", "", "ee"])
        #expect(read.map(\.number) == [1, 2, 3, 4, 5, 6])
        #expect(read.map(\.offset) == [0, 2, 6, 10, 13, 15])
        #expect(read.map(\.terminated) == [true, true, true, true, true, false])
        // A file of CR-only line ends is its lines, not one.
        #expect(try Self.texts(Array("# c\rx\ry\r".utf8)) == ["# c", "x", "y"])
    }

    /// A CRLF split between two reads is one line end, not two.
    @Test func crlfAcrossAReadIsOneLineEnd() throws {
        for before in [65_533, 65_534, 65_535, 65_536] {
            let text = String(repeating: "x", count: before) + "\r\ny\n"
            let read = try Self.lines(LineReader(name: "m", contents: Array(text.utf8)))
            #expect(read.map(\.text.count) == [before, 1])
            #expect(read.map(\.offset) == [0, UInt64(before + 2)])
        }
    }

    @Test func aLineOverTheLimitIsRefusedWithItsFileAndLine() throws {
        let reader = LineReader(name: "big.jsonl", contents: Array(("ok\n" + String(repeating: "z", count: 1000) + "\nafter\n").utf8))
        reader.maxLineLength = 999
        var first = ""
        #expect(try reader.next { first = String(decoding: $0, as: UTF8.self) })
        #expect(first == "ok")
        #expect {
            _ = try reader.next { _ in Issue.record("a line past the limit was handed over") }
        } throws: { error in
            "\(error)" == "big.jsonl:2: line longer than the limit of 999 bytes (999 bytes)"
        }
        // Exactly at the limit is kept.
        let exact = LineReader(name: "m", contents: Array((String(repeating: "z", count: 999) + "\n").utf8))
        exact.maxLineLength = 999
        #expect(try Self.lines(exact).map(\.text.count) == [999])
    }

    /// Without refusing, a long line comes cut to the limit, the rest read past, and the lines
    /// after it keep their numbers and offsets; also across many reads.
    @Test func aCutLineIsReadPastAndTheNextLinesKeepTheirPlace() throws {
        for (length, limit) in [(1000, 999), (300_000, 100_000), (300_000, 70_000)] {
            for end in ["\n", "\r\n", "\r"] {
                let text = "a" + end + String(repeating: "z", count: length) + end + "b" + end
                let reader = LineReader(name: "m", contents: Array(text.utf8))
                reader.maxLineLength = limit
                reader.refusesLongLines = false
                let read = try Self.lines(reader)
                #expect(read.map(\.text.count) == [1, limit, 1])
                #expect(read.map(\.cut) == [false, true, false])
                #expect(read.map(\.number) == [1, 2, 3])
                #expect(read.map(\.offset) == [0, UInt64(1 + end.utf8.count), UInt64(1 + length + 2 * end.utf8.count)])
            }
        }
    }

    /// The lines of a generated text, its bytes compressed by `tool`, its path.
    static func compressed(_ tool: String, lines count: Int, members: Int = 1) throws -> (lines: [String], path: String, plain: String) {
        let directory = try TraceFixtures.temporaryDirectory().path
        var lines: [String] = []
        for index in 0..<count { lines.append("line \(index) " + String(repeating: "abcdefgh", count: index % 13)) }
        let plain = directory + "/plain.txt"
        let path = directory + "/input.bin"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let perMember = (count + members - 1) / members
        for member in 0..<members {
            let part = lines[min(member * perMember, count)..<min((member + 1) * perMember, count)]
            try (part.map { $0 + "\n" }.joined()).write(toFile: plain, atomically: true, encoding: .utf8)
            try shell("\(tool) -c \(plain) >> \(path)")
        }
        try (lines.map { $0 + "\n" }.joined()).write(toFile: plain, atomically: true, encoding: .utf8)
        return (lines, path, plain)
    }

    @Test(arguments: ["gzip", "zstd -q"])
    func compressedInputIsReadByItsMagicBytes(tool: String) throws {
        for members in [1, 3] {
            let input = try Self.compressed(tool, lines: 40_000, members: members)
            let reader = try LineReader(path: input.path)
            var observed: [UInt8] = []
            reader.rawObserver = { observed.append(contentsOf: $0) }
            let read = try Self.lines(reader)
            #expect(reader.compression == (tool == "gzip" ? .gzip : .zstd))
            #expect(read.map(\.text) == input.lines)
            // Offsets are in the decompressed stream.
            let plain = try Array(Data(contentsOf: URL(fileURLWithPath: input.plain)))
            #expect(read.allSatisfy { $0.offset == 0 || plain[Int($0.offset) - 1] == 0x0A })
            #expect(read.last!.offset + UInt64(read.last!.text.utf8.count) + 1 == UInt64(plain.count))
            // The hash and the observer see the bytes as given: compressed.
            let given = try Array(Data(contentsOf: URL(fileURLWithPath: input.path)))
            #expect(observed == given)
            #expect(reader.contentHash == Array(SHA256.hash(data: given)))
            #expect(reader.bytesRead == UInt64(given.count))
            #expect(try reader.hashOfWholeFile() == nil)  // reading has started
            #expect(try LineReader(path: input.path).hashOfWholeFile() == Array(SHA256.hash(data: given)))
        }
    }

    @Test(arguments: ["gzip", "zstd -q"])
    func aCompressedStreamCutShortOrCorruptIsRefused(tool: String) throws {
        let input = try Self.compressed(tool, lines: 5000)
        let given = try Array(Data(contentsOf: URL(fileURLWithPath: input.path)))
        let cut = LineReader(name: "cut", contents: Array(given[..<(given.count * 2 / 3)]))
        #expect(throws: StoreError.self) { _ = try Self.lines(cut) }
        var garbled = given
        for index in stride(from: 20, to: garbled.count - 20, by: 7) { garbled[index] ^= 0x5A }
        #expect(throws: StoreError.self) { _ = try Self.lines(LineReader(name: "garbled", contents: garbled)) }
    }

    /// Only magic bytes count: a name says nothing, and a short or empty input is plain.
    @Test func compressionIsToldByMagicBytesNotByName() throws {
        let directory = try TraceFixtures.temporaryDirectory().path
        try "plain\ntext\n".write(toFile: directory + "/x.gz", atomically: true, encoding: .utf8)
        #expect(try Self.lines(LineReader(path: directory + "/x.gz")).map(\.text) == ["plain", "text"])
        #expect(try Self.texts([0x1F]) == ["\u{1F}"])
        #expect(try Self.texts([]) == [])
        #expect(try Self.texts(Array("ab".utf8)) == ["ab"])
    }

    /// The observer sees every raw byte exactly once for a plain input too, and the hash is
    /// of those bytes.
    @Test func plainInputObserverAndHashSeeTheBytesAsGiven() throws {
        var bytes: [UInt8] = []
        for index in 0..<50_000 { bytes += Array("l\(index)\r\n".utf8) }
        let reader = LineReader(name: "m", contents: bytes)
        var observed: [UInt8] = []
        reader.rawObserver = { observed.append(contentsOf: $0) }
        #expect(try Self.lines(reader).count == 50_000)
        #expect(observed == bytes)
        #expect(reader.contentHash == Array(SHA256.hash(data: bytes)))
    }
}

/// Runs `command` with bash; fails unless it exits 0.
@discardableResult
func shell(_ command: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", command]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    struct Failed: Error { var command: String; var status: Int32 }
    guard process.terminationStatus == 0 else { throw Failed(command: command, status: process.terminationStatus) }
    return String(decoding: data, as: UTF8.self)
}
