import Foundation
import Testing
@testable import GmemStore

/// Text outputs show control characters as visible escapes: an id, name, note, file name or
/// reason with a newline or an ANSI sequence cannot forge a row of a table or act on the
/// terminal (issue 12 item 9).
@Suite struct TerminalEscapeTests {
    /// A value built to forge a row and repaint the screen: newline, CR, ESC (CSI), C1 CSI,
    /// DEL, NUL, a tab, a right-to-left override and a line separator.
    static let hostile = "g1\n\u{1B}[31mFORGED  td1  0x0\r\u{9B}2J\u{7F}\u{0}\t\u{202E}x\u{2028}y"

    /// True when `text` holds nothing a terminal acts on: no C0 control but the newlines
    /// given, no DEL, no C1 control, no bidi override or isolate, no line separator.
    static func isInert(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            let value = scalar.value
            if value == 0x0A { return true }
            if value < 0x20 || value == 0x7F || (0x80...0x9F).contains(value) { return false }
            return ![0x200E, 0x200F, 0x2028, 0x2029, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069].contains(value)
        }
    }

    @Test("every control character becomes a visible escape; printable text, accents and backslashes stay as they are")
    func escapeEveryClass() {
        for value in Array(0..<0x20) + [0x7F] + Array(0x80...0x9F) + [0x200E, 0x200F, 0x2028, 0x2029] + Array(0x202A...0x202E) + Array(0x2066...0x2069) {
            let text = "a" + String(Character(Unicode.Scalar(UInt32(value))!)) + "b"
            let escaped = terminalSafe(text)
            #expect(Self.isInert(escaped) && !escaped.contains("\n"), "U+\(String(value, radix: 16))")
            #expect(escaped.hasPrefix("a\\") && escaped.hasSuffix("b"), "\(escaped)")
            #expect(terminalSafe(escaped) == escaped, "escaping twice changes nothing")
        }
        #expect(terminalSafe("a\nb\rc\td\u{1B}[0m\u{7F}\u{9B}\u{202E}") == "a\\nb\\rc\\td\\x1b[0m\\x7f\\u{009b}\\u{202e}")
        for plain in ["g1", "td-1 0x1000+0x2000", "é ü → 日本", "C:\\path\\n", "\u{2030}\u{2070}", ""] {
            #expect(terminalSafe(plain) == plain)
        }
    }

    @Test("state's table keeps one row per run when an id carries a newline and an ANSI sequence")
    func stateTable() {
        var page = PageState(shareability: .private)
        page.populated = true
        let runs = [
            StateRun(gmem: Self.hostile, vm: "td1", offset: 0, size: 4096, page: page),
            StateRun(gmem: "g2", vm: Self.hostile, offset: 0, size: 8192, page: page),
        ]
        let text = StateReport.text(runs)
        #expect(text.split(separator: "\n").count == 3)
        #expect(Self.isInert(text))
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("FORGED") })
        // The columns still line up: every row has the header's column starts.
        let lines = text.split(separator: "\n").map(String.init)
        let vmColumn = lines[0].range(of: "VM")!.lowerBound.utf16Offset(in: lines[0])
        #expect(lines[1].utf16.count > vmColumn)
    }

    @Test("audit's and explain's text keep one line per field when a finding's values carry controls")
    func findingsAndExplanations() {
        let finding = Finding(
            id: 1, rule: "GM-R01", name: "convert-pinned-to-shared", severity: .critical, seq: 3, ts: nil, host: Self.hostile,
            vm: Self.hostile, ranges: [FindingRange(gmem: Self.hostile, offset: 0, size: 4096)], related: [2],
            message: "conversion of \(Self.hostile)")
        let judged = [JudgedFinding(finding: finding, severity: .critical), JudgedFinding(finding: finding, severity: .warning, suppressedBecause: Self.hostile)]
        let audit = FindingReport.text(judged, from: 1, to: 3, suppressed: 1)
        #expect(Self.isInert(audit))
        // summary, blank, CRITICAL (1), header, row, blank, SUPPRESSED (1), header, row
        #expect(audit.split(separator: "\n", omittingEmptySubsequences: false).count == 9)

        let event = Event(.vmDestroy(vm: Self.hostile), actor: Self.hostile, result: Self.hostile, note: Self.hostile)
        let step = ExplainStep(seq: 2, role: .related, event: event, verdict: Verdict(), before: [], after: [])
        let explanation = ExplainFormat.text(Explanation(finding: finding, steps: [step]), severity: nil)
        #expect(Self.isInert(explanation))
        #expect(!explanation.split(separator: "\n").contains { $0.hasPrefix("FORGED") || $0.hasPrefix("y") })
        // head, subject, message, related, blank, the step's headline, its note, the pages line
        #expect(explanation.split(separator: "\n", omittingEmptySubsequences: false).count == 8)

        let headline = HistoryFormat.headline(seq: 2, event: event, verdict: Verdict())
        #expect(Self.isInert(headline) && !headline.contains("\n"))
    }

    @Test("the CLI escapes file names in ingest's summary and quoted names in its messages")
    func commandLine() throws {
        let temporary = try TemporaryStore()
        let scenario = try #require(scenarioFiles.first)
        let name = temporary.sibling("run\n\u{1B}[2Jfake.jsonl: 99 added\u{1B}[0m.jsonl")
        try FileManager.default.copyItem(atPath: scenario.path, toPath: name)
        let ingest = try runCLI(["ingest", "--db", temporary.path, name])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        #expect(Self.isInert(ingest.stdout))
        #expect(ingest.stdout.split(separator: "\n").count == 1)
        #expect(ingest.stdout.contains("run\\n\\x1b[2Jfake.jsonl: 99 added\\x1b[0m.jsonl:"))

        let missing = try runCLI(["state", "--db", temporary.sibling("no\n\u{1B}[31mstore")])
        #expect(missing.status == 66)
        #expect(Self.isInert(missing.stderr) && missing.stderr.split(separator: "\n").count == 1)
        #expect(missing.stderr.contains("no\\n\\x1b[31mstore"))
    }
}
