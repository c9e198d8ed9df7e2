import Foundation
import Testing
import GmemFuzzing
@testable import GmemStore

/// Every input in `Fuzz/regressions/<format>/` (a fuzzer finding, kept after its fix) and every
/// seed in `Fuzz/corpus/<format>/`, replayed through the fuzz harness: the same ingest path
/// and the same checks as scripts/fuzz.sh, without the sanitizers.
@Suite struct FuzzRegressionTests {
    /// (format directory, file path) for every file under `root`.
    static func inputs(under root: String) -> [(format: String, path: String)] {
        var found: [(String, String)] = []
        for format in ["jsonl", "ftrace", "qemu", "auto"] {
            let directory = repositoryRoot + "/" + root + "/" + format
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names.sorted() where !name.hasPrefix(".") { found.append((format, directory + "/" + name)) }
        }
        return found
    }

    @Test("every fuzzer finding kept in Fuzz/regressions replays cleanly")
    func regressions() throws {
        let inputs = Self.inputs(under: "Fuzz/regressions")
        for input in inputs {
            let format = try #require(ReaderHarness.format(named: input.format))
            let bytes = try #require(FileManager.default.contents(atPath: input.path))
            Array(bytes).withUnsafeBytes { ReaderHarness.run($0, format: format) }
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
                bytes.withUnsafeBytes { ReaderHarness.run($0, format: format) }
            }
        }
    }
}
