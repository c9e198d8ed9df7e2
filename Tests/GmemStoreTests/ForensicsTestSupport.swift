import Foundation
@testable import GmemStore

/// The generator's configuration for a test: `events` events from `seed`, misbehaving at
/// `misbehaviour`, under `kernel` (nil: every VM's own).
func generatorConfiguration(
    events: Int, seed: UInt64, misbehaviour: Double = 0.1, kernel: KernelProfile? = nil
) -> LogGenerator.Configuration {
    var configuration = LogGenerator.Configuration()
    configuration.events = events
    configuration.seed = seed
    configuration.misbehaviour = misbehaviour
    configuration.kernel = kernel
    return configuration
}

/// A generated log as JSON Lines text.
func generatedLog(
    events: Int, seed: UInt64, gmemSize: UInt64 = 64 << 20, misbehaviour: Double = 0.1, ids: Bool = false, kernel: KernelProfile? = nil
) -> String {
    var configuration = LogGenerator.Configuration()
    configuration.kernel = kernel
    configuration.events = events
    configuration.seed = seed
    configuration.gmemSize = gmemSize
    configuration.misbehaviour = misbehaviour
    configuration.ids = ids
    var text = ""
    for event in LogGenerator(configuration) {
        text += event.canonicalJSON
        text += "\n"
    }
    return text
}

/// Ingests JSON Lines text as one batch named `name`.
@discardableResult
func ingest(_ text: String, name: String, into store: Store, addsSource: Bool = true) throws -> Store.BatchSummary {
    let reader = LineReader(name: name, contents: Array(text.utf8))
    return try store.ingest(source: name, format: "jsonl") { writer in
        try JSONLIngest(addsSource: addsSource).read(reader, into: writer, input: try writer.storeInput(named: name, reader: reader))
        return reader.contentHash
    }
}

/// Every stored event row, in seq order.
func storedEvents(_ store: Store) throws -> [Store.StoredEvent] {
    var events: [Store.StoredEvent] = []
    let head = try store.headLink().seq
    guard head > 0 else { return [] }
    try store.forEachEvent(in: 1...head) { events.append($0); return true }
    return events
}
