import Foundation
import Testing

@testable import GmemStore

/// Runs the auditor (no store) over a JSON Lines log; seq n is the n-th event line.
func auditLog(_ text: String) throws -> [Finding] {
    var auditor = Auditor()
    var findings: [Finding] = []
    var seq: Int64 = 0
    for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty && !line.hasPrefix("#") {
        seq += 1
        findings += auditor.audit(try Event(jsonLine: String(line)), seq: seq)
    }
    return findings
}

/// A file range of a finding, for comparisons.
func fileRange(_ gmem: String, _ offset: UInt64, _ size: UInt64) -> FindingRange {
    FindingRange(gmem: gmem, offset: offset, size: size)
}

/// A fresh store file in a temporary directory, removed by the caller with `removeStore`.
func temporaryStorePath(_ name: String = #function) -> String {
    let directory = NSTemporaryDirectory() + "gmem-audit-tests-\(ProcessInfo.processInfo.processIdentifier)"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let base = name.filter { $0.isLetter || $0.isNumber }
    let path = directory + "/" + base + "-\(UInt32.random(in: 0...UInt32.max)).db"
    return path
}

func removeStore(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}

/// Appends the events of a JSON Lines text to `store` as one batch.
func ingest(_ text: String, into store: Store, name: String = "test.jsonl") throws {
    let reader = LineReader(name: name, contents: Array(text.utf8))
    _ = try store.ingest(source: name, format: "jsonl") { writer in
        try JSONLIngest().read(reader, into: writer, input: try writer.storeInput(named: name, reader: reader))
        return reader.contentHash
    }
}

/// The scenario logs of seeds/scenarios, read from the source tree.
enum ScenarioFiles {
    static var directory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("seeds/scenarios").path
    }

    static func names() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".jsonl") }.sorted()
            .map { String($0.dropLast(6)) }
    }

    static func text(_ name: String, ext: String) throws -> String {
        try String(contentsOfFile: directory + "/" + name + "." + ext, encoding: .utf8)
    }
}
