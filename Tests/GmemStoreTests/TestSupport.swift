import Foundation
import Testing
@testable import GmemStore

/// A fresh store in a temporary directory, removed with the directory when the test ends.
final class TemporaryStore {
    let directory: String
    let path: String
    /// The store, created and opened read-write on first use. Tests that copy the file use
    /// `open()` instead, so that no connection holds pages in the WAL when they copy.
    lazy var store: Store = {
        do {
            return try Store(path: path, access: .readWrite)
        } catch {
            fatalError("cannot create a test store at \(path): \(error)")
        }
    }()

    init(_ name: String = "gmem.db") throws {
        directory = NSTemporaryDirectory() + "gmem-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/" + name
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Another connection to the store, as a second process would open it.
    func open(_ access: Database.Access = .readWrite) throws -> Store {
        try Store(path: path, access: access)
    }

    /// Another path in the same directory.
    func sibling(_ name: String) -> String { directory + "/" + name }

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
