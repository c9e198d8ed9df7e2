import Foundation
import PackagePlugin

/// Embeds the schema migrations (`Migrations/*.sql`) and the seed scenarios
/// (`seeds/scenarios/*.jsonl`) into the library as Swift string literals, so that a
/// `gmem-audit` binary copied anywhere can still create a store and run the demo.
@main
struct EmbedResources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let migrations = try files(in: root.appending(path: "Migrations"), ending: ".sql")
        let scenarios = try files(in: root.appending(path: "seeds/scenarios"), ending: ".jsonl")
        let output = context.pluginWorkDirectoryURL.appending(path: "Embedded.swift")
        var arguments = [output.path(percentEncoded: false)]
        arguments += migrations.map { "migration=" + $0.path(percentEncoded: false) }
        arguments += scenarios.map { "scenario=" + $0.path(percentEncoded: false) }
        return [
            .buildCommand(
                displayName: "Embedding \(migrations.count) migrations and \(scenarios.count) scenarios",
                executable: try context.tool(named: "gmem-embed").url,
                arguments: arguments,
                inputFiles: migrations + scenarios,
                outputFiles: [output]
            )
        ]
    }

    private func files(in directory: URL, ending suffix: String) throws -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path(percentEncoded: false))) ?? []
        return names.filter { $0.hasSuffix(suffix) }.sorted().map { directory.appending(path: $0) }
    }
}
