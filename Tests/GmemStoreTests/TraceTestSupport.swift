import Foundation
import GmemStore

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
}
