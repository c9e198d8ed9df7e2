import Foundation
import GmemStore
import Testing

/// Paths and stores the trace tests share.
enum TraceFixtures {
    /// The repository root (this file is Tests/GmemStoreTests/TraceTestSupport.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A path under seeds/real/.
    static func real(_ name: String) -> String {
        root.appendingPathComponent("seeds/real").appendingPathComponent(name).path
    }

    /// A fresh directory under the system's temporary directory.
    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gmem-traces-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A new, empty store in a fresh temporary directory.
    static func store() throws -> Store {
        try Store(path: temporaryDirectory().appendingPathComponent("gmem.db").path, access: .readWrite)
    }

    /// Writes `lines` to a file in a fresh temporary directory and returns its path.
    static func file(_ name: String, _ lines: [String]) throws -> String {
        let url = try temporaryDirectory().appendingPathComponent(name)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The gfns of `gmem` mapped in `state`, given the gfn of its offset 0.
    static func mappedGFNs(_ state: GmemState, gmem: String, firstGFN: UInt64) -> [UInt64] {
        guard let file = state.file(gmem) else { return [] }
        var gfns: [UInt64] = []
        for range in file.pages.ranges(in: 0..<file.pageCount, where: { $0.mapped }) {
            gfns += range.map { firstGFN + $0 }
        }
        return gfns
    }

    /// A capture's truth file (seeds/real/README.md).
    struct Truth {
        var gmem: String
        var firstGFN: UInt64
        var guestExitTS: Int64
        var guestExitGFNs: [UInt64]
        var endGFNs: [UInt64]

        init(path: String) throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            func gfns(_ snapshot: String) -> [UInt64] {
                ((json[snapshot] as! [String: Any])["mapped_gfns"] as! [String]).map { UInt64($0.dropFirst(2), radix: 16)! }
            }
            gmem = json["gmem"] as! String
            let binding = json["binding"] as! [String: Any]
            firstGFN = UInt64((binding["gfn_first"] as! String).dropFirst(2), radix: 16)!
            guestExitTS = ((json["at_guest_exit"] as! [String: Any])["ts"] as! NSNumber).int64Value
            guestExitGFNs = gfns("at_guest_exit")
            endGFNs = gfns("at_end_of_log")
        }
    }

    /// Merges a capture's JSONL with its trace and checks the mapped set against its truth
    /// file: at the guest's final exit and at the end of the log.
    static func checkCapture(jsonl: String, trace: String, truth truthPath: String) throws {
        let truth = try Truth(path: truthPath)
        let store = try store()
        let summary = try MergeIngest().ingest([(jsonl, nil), (trace, nil)], into: store)
        #expect(summary.inputs.map(\.format) == [.jsonl, trace.hasSuffix(".dat") ? .traceDat : .ftrace])
        #expect(summary.unresolvedVM == 0)
        // The capture program's markers are skipped, by name; nothing else is malformed.
        #expect((summary.inputs[1].skipped.counts["tracing_mark_write"] ?? 0) > 10)
        #expect(summary.inputs[1].skipped.counts.keys.allSatisfy { !$0.hasSuffix("(malformed)") && !$0.hasPrefix("(") })

        let end = try store.engine(at: store.headLink().seq).state
        // At the end of the log; a closed gmem shows what it held when it closed.
        let endFile = try #require(end.files.last { $0.name == truth.gmem })
        var endMapped: [UInt64] = []
        for range in endFile.pages.ranges(in: 0..<endFile.pageCount, where: { $0.mapped }) {
            endMapped += range.map { truth.firstGFN + $0 }
        }
        #expect(endMapped == truth.endGFNs, "\(trace): mapped at the end of the log")

        let atExit = try store.engine(at: store.seq(atTime: truth.guestExitTS)).state
        #expect(mappedGFNs(atExit, gmem: truth.gmem, firstGFN: truth.firstGFN) == truth.guestExitGFNs,
            "\(trace): mapped when the guest stopped")
    }
}
