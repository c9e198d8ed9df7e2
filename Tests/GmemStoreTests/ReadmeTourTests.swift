import Foundation
import Testing

/// The README's tour runs as written: every `$ command` of its examples is run, in order, by
/// `/bin/sh` in one new directory (so the tour's first `ingest` creates `./gmem.db` there) with
/// the `gmem-audit` built next to the tests first on `PATH`, and what it prints (stdout, then
/// stderr) must match the lines under it.
///
/// The README is the data: change an example there and this test follows. Its rules:
/// - The tour is the README from `## A short tour` to the next `## ` heading. An example is a
///   fenced block whose first line starts with `$ `; each `$ ` line is a command, and the lines
///   up to the next command or the block's end are its output (empty lines at the end of an
///   output are not part of it).
/// - A line that holds only `…` stands for any number of lines, none included. A line that
///   ends in ` …` (a space and `…`) stands for any line that begins with what comes before the
///   space. Every other `…` is the character itself (gmem prints ranges as `1…10`).
/// - A command with the comment `# as root` runs only when the test runs as root, and one whose
///   comment names `/dev/kvm` only where /dev/kvm can be opened; elsewhere it is skipped with
///   the rest of its block (which may depend on it), and the test says so.
/// - The directory holds a link to each top-level file and folder of the repository (not its
///   stores, build products or dot-files), so paths in the README are paths from the root.
@Suite(.serialized) struct ReadmeTourTests {
    /// One `$ command` of the tour with the output the README shows for it.
    struct Example: CustomStringConvertible {
        var command: String
        var output: [String]
        var readmeLine: Int
        /// Which fenced block of the tour it is in.
        var block: Int
        var description: String { "README.md:\(readmeLine): $ \(command)" }
    }

    /// The tour's examples, in README order.
    static func examples(in readme: String) -> [Example] {
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("## A short tour") }) else { return [] }
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("## ") } ?? lines.count
        var examples: [Example] = []
        var index = start + 1
        var blocks = 0
        while index < end {
            guard lines[index].hasPrefix("```") else { index += 1; continue }
            var block: [(line: Int, text: String)] = []
            index += 1
            while index < end, !lines[index].hasPrefix("```") {
                block.append((index + 1, lines[index]))
                index += 1
            }
            index += 1
            guard let first = block.first, first.text.hasPrefix("$ ") else { continue }
            blocks += 1
            for entry in block {
                if entry.text.hasPrefix("$ ") {
                    examples.append(
                        Example(command: String(entry.text.dropFirst(2)), output: [], readmeLine: entry.line, block: blocks))
                } else {
                    examples[examples.count - 1].output.append(entry.text)
                }
            }
        }
        for i in examples.indices {
            while examples[i].output.last?.isEmpty == true { examples[i].output.removeLast() }
        }
        return examples
    }

    /// Whether `actual` fits `expected` under the tour's `…` rules.
    static func matches(_ expected: [String], _ actual: [String]) -> Bool {
        var memo: [Int: Bool] = [:]
        func match(_ i: Int, _ j: Int) -> Bool {
            let key = i * (actual.count + 1) + j
            if let known = memo[key] { return known }
            let result: Bool
            if i == expected.count {
                result = j == actual.count
            } else if expected[i].trimmingCharacters(in: .whitespaces) == "…" {
                result = match(i + 1, j) || (j < actual.count && match(i, j + 1))
            } else if j == actual.count {
                result = false
            } else if expected[i].hasSuffix(" …") {
                result = actual[j].hasPrefix(String(expected[i].dropLast(2))) && match(i + 1, j + 1)
            } else {
                result = expected[i] == actual[j] && match(i + 1, j + 1)
            }
            memo[key] = result
            return result
        }
        return match(0, 0)
    }

    /// Why `command` cannot run here (its comment asks for root or /dev/kvm), or nil.
    static func unavailable(_ command: String) -> String? {
        guard let hash = command.range(of: " # ") else { return nil }
        let comment = command[hash.upperBound...]
        if comment.contains("as root"), geteuid() != 0 { return "needs root" }
        if comment.contains("/dev/kvm") {
            let fd = open("/dev/kvm", O_RDWR)
            if fd < 0 { return "needs /dev/kvm" }
            close(fd)
        }
        return nil
    }

    static let readme: String = (try? String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)) ?? ""

    @Test func theRulesReadTheTour() {
        let tour = Self.examples(in: Self.readme)
        #expect(tour.count >= 8, "the README's tour has \(tour.count) examples")
        #expect(tour.first?.command.hasPrefix("gmem-audit ingest ") == true, "the tour must start by making its store")
        #expect(Self.matches(["a", "…", "d"], ["a", "b", "c", "d"]))
        #expect(Self.matches(["a", "…", "d"], ["a", "d"]))
        #expect(Self.matches(["seq 1…10"], ["seq 1…10"]))
        #expect(!Self.matches(["seq 1…10"], ["seq 1…11"]), "a … inside a line is the character")
        #expect(Self.matches(["x: 1, …"], ["x: 1, 2, 3"]))
        #expect(!Self.matches(["x: 1, …"], ["x: 2, 3"]))
        #expect(Self.matches(["{a,b …"], ["{a,b,c}"]), "the space before … is not part of the line")
        #expect(!Self.matches(["a", "…"], ["b"]))
        #expect(!Self.matches(["a"], ["a", "b"]), "output the README does not show is a difference")
    }

    @Test func everyExampleOfTheTourPrintsWhatTheReadmeShows() throws {
        let binary = try requireCLI()
        let tour = Self.examples(in: Self.readme)
        try #require(!tour.isEmpty, "no tour found in README.md")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gmem-tour-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The repository's files and folders, not its build products, stores or git metadata.
        for name in try FileManager.default.contentsOfDirectory(atPath: repositoryRoot)
        where !name.hasPrefix(".") && !name.contains(".db") {
            try FileManager.default.createSymbolicLink(
                atPath: directory.appendingPathComponent(name).path, withDestinationPath: repositoryRoot + "/" + name)
        }
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "GMEM_DB")
        environment["PATH"] = URL(fileURLWithPath: binary).deletingLastPathComponent().path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        var skippedBlock: Int?
        for example in tour {
            if example.block == skippedBlock { print("skipped \(example): an earlier command of its block was skipped"); continue }
            if let reason = Self.unavailable(example.command) {
                print("skipped \(example): \(reason)")
                skippedBlock = example.block
                continue
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", example.command]
            process.currentDirectoryURL = directory
            process.environment = environment
            process.standardOutput = Pipe()
            process.standardError = Pipe()
            try process.run()
            let result = finish(process)
            #expect(result.reason == .exit, "\(example) was killed by signal \(result.status)")
            var actual = (result.stdout + result.stderr).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            while actual.last?.isEmpty == true { actual.removeLast() }
            if !Self.matches(example.output, actual) {
                Issue.record("""
                    \(example) (exit \(result.status)) printed:
                    \(actual.joined(separator: "\n"))
                    --- the README shows:
                    \(example.output.joined(separator: "\n"))
                    """)
            }
        }
    }
}
