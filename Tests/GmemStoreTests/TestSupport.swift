import Foundation
import Testing
@testable import GmemStore

/// A fresh store in a temporary directory, removed when the test ends.
final class TemporaryStore {
    let directory: String
    let path: String
    let store: Store

    init() throws {
        directory = NSTemporaryDirectory() + "gmem-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/gmem.db"
        store = try Store(path: path, access: .readWrite)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Writes `text` to a file in the store's directory and returns its path.
    func file(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func count(_ table: String) throws -> Int64 {
        try store.database.scalarInt("SELECT count(*) FROM \(table)") ?? -1
    }
}

/// The repository root, found from this file's path.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}()

/// The seed scenarios on disk: (base name, path of the .jsonl).
let scenarioFiles: [(name: String, path: String)] = {
    let directory = repositoryRoot + "/seeds/scenarios"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.filter { $0.hasSuffix(".jsonl") }.sorted().map { (String($0.dropLast(6)), directory + "/" + $0) }
}()

/// Parses JSON text into a Foundation value for comparisons that ignore key order.
func jsonObject(_ text: String) throws -> NSObject {
    try JSONSerialization.jsonObject(with: Data(text.utf8)) as! NSObject
}

/// Decodes one JSONL line, failing the test when it does not decode.
func event(_ line: String) throws -> Event {
    try Event(jsonLine: line)
}
