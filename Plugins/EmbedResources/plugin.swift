import Foundation
import PackagePlugin

/// Embeds the schema migrations (`Migrations/*.sql`) and the seed scenarios
/// (`seeds/scenarios/*.jsonl`) into the library as Swift string literals, so that a
/// `gmem-audit` binary copied anywhere can still create a store and run the demo.
///
/// The build runs `scripts/embed-resources.py` with every embedded file as an input, so editing a
/// migration or a scenario regenerates `Embedded.swift` in the same build (an earlier version
/// read the files when the plugin was evaluated, and a build after an edited migration kept the
/// old text). The script rewrites the file only when its text changes, and no generator is built
/// from this package: SwiftPM built such a tool twice per build and relinked it every time, which
/// recompiled all of GmemStore on a build with no change.
@main
struct EmbedResources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let migrations = try files(in: root.appending(path: "Migrations"), ending: ".sql")
        let scenarios = try files(in: root.appending(path: "seeds/scenarios"), ending: ".jsonl")
        let script = root.appending(path: "scripts/embed-resources.py")
        let output = context.pluginWorkDirectoryURL.appending(path: "Embedded.swift")
        func paths(_ urls: [URL]) -> [String] { urls.map { $0.path(percentEncoded: false) } }
        return [
            .buildCommand(
                displayName: "Embedding \(migrations.count) migrations and \(scenarios.count) scenarios",
                executable: URL(fileURLWithPath: "/usr/bin/python3"),
                arguments: [script.path(percentEncoded: false), output.path(percentEncoded: false), "--migrations"]
                    + paths(migrations) + ["--scenarios"] + paths(scenarios),
                inputFiles: [script] + migrations + scenarios,
                outputFiles: [output]
            )
        ]
    }

    private func files(in directory: URL, ending suffix: String) throws -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path(percentEncoded: false))) ?? []
        return names.filter { $0.hasSuffix(suffix) }.sorted().map { directory.appending(path: $0) }
    }
}
