/// The scenario logs of `seeds/scenarios/`, embedded in the library at build time so that
/// `gmem-audit demo` works from a binary copied anywhere.
public enum SeedScenarios {
    /// Each scenario's file name and JSON Lines text, in file-name order.
    public static var all: [(name: String, text: String)] { Embedded.scenarios }

    /// The `#` comment lines at the top of a scenario: its story.
    public static func story(of text: String) -> [String] {
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("#") else { break }
            lines.append(String(line.dropFirst().drop(while: { $0 == " " })))
        }
        return lines
    }

    /// Ingests one scenario into `store` as one batch, named `seeds/scenarios/NAME`.
    public static func ingest(_ scenario: (name: String, text: String), into store: Store) throws -> Store.BatchSummary {
        let reader = LineReader(name: "seeds/scenarios/" + scenario.name, contents: Array(scenario.text.utf8))
        return try store.ingestOnce(source: reader.name, format: "jsonl", readAs: "format=jsonl") { writer in
            try JSONLIngest().read(reader, into: writer, input: try writer.storeInput(named: reader.name, reader: reader))
            return reader.contentHash
        }
    }
}
