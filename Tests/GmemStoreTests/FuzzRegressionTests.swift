import Foundation
import Testing
import GmemFuzzing
@testable import GmemStore

/// Every input in `Fuzz/regressions/<format>/` (a fuzzer finding kept after its fix, or an input
/// the fuzzer found that reaches a path the seeds do not) and every seed in `Fuzz/corpus/<format>/`,
/// replayed through both fuzz targets: the readers in memory (`ReaderFastHarness`) and ingest
/// into a store then verify (`ReaderHarness`), the same checks as scripts/fuzz.sh, without the
/// sanitizers.
@Suite struct FuzzRegressionTests {
    static let readers = ["jsonl", "ftrace", "qemu", "auto"]

    /// (format directory, file path) for every file under `root`.
    static func inputs(under root: String) -> [(format: String, path: String)] {
        var found: [(String, String)] = []
        for format in readers {
            let directory = repositoryRoot + "/" + root + "/" + format
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names.sorted() where !name.hasPrefix(".") { found.append((format, directory + "/" + name)) }
        }
        return found
    }

    @Test("every input kept in Fuzz/regressions replays cleanly through both targets, and every reader has some")
    func regressions() throws {
        var isDirectory: ObjCBool = false
        let root = repositoryRoot + "/Fuzz/regressions"
        try #require(
            FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) && isDirectory.boolValue,
            "Fuzz/regressions/ is missing: the fuzzer's kept inputs are what this test replays")
        let inputs = Self.inputs(under: "Fuzz/regressions")
        for reader in Self.readers {
            #expect(inputs.contains { $0.format == reader }, "Fuzz/regressions/\(reader)/ is missing or empty")
        }
        for input in inputs {
            let format = try #require(ReaderHarness.format(named: input.format))
            let bytes = try #require(FileManager.default.contents(atPath: input.path))
            Array(bytes).withUnsafeBytes {
                ReaderFastHarness.run($0, format: format)
                ReaderHarness.run($0, format: format)
            }
        }
        print("fuzz regressions: \(inputs.count) inputs replayed")
    }

    @Test("the seed corpus replays cleanly in its own format and in auto-detection")
    func seeds() throws {
        let inputs = Self.inputs(under: "Fuzz/corpus")
        #expect(Set(inputs.map(\.format)) == ["jsonl", "ftrace", "qemu"])
        for input in inputs {
            let bytes = Array(try #require(FileManager.default.contents(atPath: input.path)))
            for format in [ReaderHarness.format(named: input.format)!, nil] {
                bytes.withUnsafeBytes {
                    ReaderFastHarness.run($0, format: format)
                    ReaderHarness.run($0, format: format)
                }
            }
        }
    }
}
