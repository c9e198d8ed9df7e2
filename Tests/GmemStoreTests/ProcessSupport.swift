import Foundation
import Testing
@testable import GmemStore

/// The `gmem-audit` binary the tests run as a child process: the one built next to the test
/// bundle (`swift test` builds every product into the same directory), else `.build/debug`.
let cliBinary: String? = {
    var candidates: [String] = []
    if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On Linux the test runner is `<build dir>/gmemPackageTests.xctest`; on macOS it sits
        // inside a bundle, three levels below the build directory.
        for _ in 0..<4 {
            candidates.append(url.appendingPathComponent("gmem-audit").path)
            url.deleteLastPathComponent()
        }
    }
    candidates.append(repositoryRoot + "/.build/debug/gmem-audit")
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// The binary, or a test failure saying how to get one.
func requireCLI() throws -> String {
    guard let cliBinary else {
        Issue.record("gmem-audit is not built next to the tests or in .build/debug: run `swift build` first")
        throw CLIMissing()
    }
    return cliBinary
}

struct CLIMissing: Error {}

/// What a finished child process left.
struct ProcessResult {
    var status: Int32
    var reason: Process.TerminationReason
    var stdout: String
    var stderr: String
}

/// Runs `gmem-audit arguments…` to the end and returns its exit status and output.
func runCLI(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
    let process = try startCLI(arguments, environment: environment)
    return finish(process)
}

/// Starts `gmem-audit arguments…` with stdout and stderr captured.
func startCLI(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try requireCLI())
    process.arguments = arguments
    var merged = ProcessInfo.processInfo.environment
    merged.removeValue(forKey: "GMEM_DB")
    for (key, value) in environment { merged[key] = value }
    process.environment = merged
    process.standardOutput = Pipe()
    process.standardError = Pipe()
    try process.run()
    return process
}

/// Waits for `process` (started by `startCLI`) and collects what it printed.
func finish(_ process: Process) -> ProcessResult {
    // Read before waiting: a child that fills a pipe would otherwise never exit.
    let out = (process.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
    let err = (process.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus, reason: process.terminationReason,
        stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
}

/// A file's bytes (nil when it does not exist), to prove a command left it unchanged.
func fileBytes(_ path: String) -> Data? {
    FileManager.default.contents(atPath: path)
}

/// Every event of a store as (seq, batch, hash), in seq order.
func eventChain(_ store: Store) throws -> [(seq: Int64, batch: Int64, hash: [UInt8])] {
    var chain: [(seq: Int64, batch: Int64, hash: [UInt8])] = []
    try store.forEachEvent(in: 1...Int64.max) { stored in
        chain.append((stored.seq, stored.batch, stored.hash))
        return true
    }
    return chain
}

/// Writes a generated log (`LogGenerator`, one continuous history) split into `files` JSONL
/// files of `perFile` events each, in `directory`; returns their paths in order.
func generatedFiles(in directory: String, files: Int, perFile: Int, seed: UInt64 = 7) throws -> [String] {
    var configuration = LogGenerator.Configuration()
    configuration.events = files * perFile
    configuration.seed = seed
    configuration.vms = 4
    var generator = LogGenerator(configuration)
    var paths: [String] = []
    for index in 0..<files {
        var text = ""
        for _ in 0..<perFile {
            guard let event = generator.next() else { break }
            text += event.canonicalJSON + "\n"
        }
        let path = directory + "/part-\(index).jsonl"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        paths.append(path)
    }
    return paths
}
