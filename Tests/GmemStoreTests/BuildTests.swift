import Foundation
import Testing
@testable import GmemStore

/// What keeps the build incremental, and what the build embeds.
@Suite struct BuildTests {
    /// The EmbedResources plugin runs no tool built from this package. SwiftPM built such a
    /// tool (the former gmem-embed) once for the plugin and once for the build, relinking it
    /// on every build; the command that depended on it re-ran, rewrote Embedded.swift, and a
    /// build with no change recompiled all of GmemStore (two minutes in release).
    @Test func theEmbeddingPluginRunsNoToolBuiltFromThePackage() throws {
        // Its own scratch directory: `swift test` holds the lock of .build while the tests run.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gmem-dump-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let swift = Process()
        swift.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        swift.arguments = ["swift", "package", "--package-path", repositoryRoot, "--scratch-path", scratch.path, "dump-package"]
        let out = Pipe()
        swift.standardOutput = out
        swift.standardError = FileHandle.nullDevice
        try swift.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        swift.waitUntilExit()
        try #require(swift.terminationStatus == 0, "swift package dump-package failed")
        let package = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let targets = try #require(package["targets"] as? [[String: Any]])
        let plugin = try #require(targets.first { $0["name"] as? String == "EmbedResources" })
        let dependencies = plugin["dependencies"] as? [Any] ?? []
        #expect(dependencies.isEmpty, "EmbedResources depends on \(dependencies): a tool built from the package makes every build rebuild GmemStore")
    }

    /// The embedded migrations and scenarios are the files on disk, byte for byte and in
    /// file-name order: the plugin's staged copy is not stale.
    @Test func theEmbeddedFilesAreTheFilesOnDisk() throws {
        func onDisk(_ folder: String, _ suffix: String) throws -> [(name: String, text: String)] {
            let directory = repositoryRoot + "/" + folder
            return try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(suffix) }.sorted()
                .map { ($0, try String(contentsOfFile: directory + "/" + $0, encoding: .utf8)) }
        }
        let migrations = try onDisk("Migrations", ".sql")
        let scenarios = try onDisk("seeds/scenarios", ".jsonl")
        #expect(migrations.count >= 1 && scenarios.count >= 12)
        #expect(Embedded.migrations.map(\.name) == migrations.map(\.name))
        #expect(Embedded.migrations.map(\.text) == migrations.map(\.text))
        #expect(Embedded.scenarios.map(\.name) == scenarios.map(\.name))
        #expect(Embedded.scenarios.map(\.text) == scenarios.map(\.text))
    }
}
