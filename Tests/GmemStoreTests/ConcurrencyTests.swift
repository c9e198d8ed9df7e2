import Foundation
import Testing
@testable import GmemStore

/// Readers and writers at once on one store (WAL): readers never see "database is locked" and
/// always see whole batches; two ingests serialize; the WAL stays bounded while readers come
/// and go, and shrinks back after a long reader lets go.
@Suite(.serialized) struct ConcurrencyTests {
    /// The event count at the end of each batch of `store`, from 0.
    static func batchEnds(_ store: Store) throws -> [Int64] {
        var ends: [Int64] = [0]
        let statement = try store.database.prepare("SELECT last_seq FROM batch WHERE last_seq IS NOT NULL ORDER BY id")
        while try statement.step() { ends.append(statement.int(0)) }
        return ends
    }

    @Test("state, history, verify and audit run while an ingest writes: no lock error, whole batches, the state of that head")
    func readersDuringIngest() throws {
        _ = try requireCLI()
        let temporary = try TemporaryStore()
        _ = temporary.store  // created before the readers start
        let inputs = try generatedFiles(in: temporary.directory, files: 24, perFile: 1000, seed: 21)

        // The reference: the same files ingested alone, with the state at each batch end.
        let reference = try TemporaryStore()
        var referenceStates: [Int64: GmemState] = [0: GmemState()]
        for input in inputs {
            _ = try JSONLIngest().ingest(path: input, into: reference.store)
            let head = try reference.store.headLink().seq
            referenceStates[head] = try reference.store.engine(at: head).state
        }
        let ends = try Self.batchEnds(reference.store)
        #expect(Set(ends) == Set(referenceStates.keys))

        let writer = try startCLI(["ingest", "--db", temporary.path] + inputs)
        // Other processes, one command at a time in turn, from another thread.
        let commandLog = CommandLog()
        let path = temporary.path
        let commandThread = Thread {
            let commands: [[String]] = [["state", "--format", "json"], ["history", "--gmem", "g0", "--offset", "0"], ["verify"], ["audit", "--format", "json"]]
            var turn = 0
            while !commandLog.stopped {
                let command = commands[turn % commands.count]
                turn += 1
                guard let process = try? startCLI(command + ["--db", path]) else { break }
                commandLog.add(command[0], finish(process))
            }
            commandLog.finish()
        }
        commandThread.start()

        var libraryReads = 0
        var midIngestReads = 0
        var heads: Set<Int64> = []
        while writer.isRunning {
            // In this process: one read transaction sees one head, at a batch end, and the
            // state there is the reference's.
            let reader = try Store(path: temporary.path, access: .readOnly(immutable: false))
            try reader.database.readTransaction {
                let head = try reader.headLink().seq
                #expect(ends.contains(head), "a reader saw seq \(head), which is not the end of a batch")
                #expect(try reader.engine(at: head).state == referenceStates[head], "state at seq \(head) differs from the reference")
                heads.insert(head)
                if head > 0 && head < ends.last! { midIngestReads += 1 }
            }
            libraryReads += 1
        }
        let result = finish(writer)
        commandLog.stop()
        let runs = commandLog.wait()
        for (name, run) in runs {
            #expect(!run.stderr.contains("locked") && !run.stderr.contains("busy"), "\(name): \(run.stderr)")
            #expect(name == "audit" ? [0, 1].contains(run.status) : run.status == 0, "\(name) exited \(run.status): \(run.stderr)")
            if name == "verify" { #expect(run.stdout.contains("verify: ok"), "\(run.stdout)") }
        }
        #expect(Set(runs.map(\.name)).count == 4, "every command ran at least once during the ingest: \(runs.map(\.name))")
        #expect(result.status == 0, "\(result.stderr)")
        let final = try Store(path: temporary.path, access: .readOnly(immutable: false))
        #expect(try final.headLink().seq == ends.last!)
        #expect(try Verifier(store: final).run().passed)
        #expect(midIngestReads >= 3, "only \(midIngestReads) reads landed while the ingest was half done")
        print("concurrency: \(libraryReads) read transactions and \(runs.count) command runs (state, history, verify, audit) during one ingest of \(inputs.count) batches; \(heads.count) distinct heads seen, each a batch end with the reference state; no lock error")
    }

    @Test("two ingests at once on a new store serialize: gap-free seqs, each batch whole and contiguous, no duplicates")
    func twoIngests() throws {
        _ = try requireCLI()
        for round in 0..<3 {
            let temporary = try TemporaryStore()  // no file yet: both processes race to create it
            let inputs = try generatedFiles(in: temporary.directory, files: 8, perFile: 800, seed: 31 + UInt64(round))
            let first = try startCLI(["ingest", "--db", temporary.path] + inputs.prefix(4))
            let second = try startCLI(["ingest", "--db", temporary.path] + inputs.suffix(4))
            let results = [finish(first), finish(second)]
            for result in results { #expect(result.status == 0, "round \(round): \(result.stderr)") }

            let store = try Store(path: temporary.path, access: .readOnly(immutable: false))
            #expect(try Verifier(store: store).run().passed)
            let chain = try eventChain(store)
            #expect(chain.map(\.seq) == Array(1...Int64(8 * 800)), "round \(round): seqs are not 1…\(8 * 800)")
            // Each batch's events are one contiguous run of seqs: batches never interleave.
            var runs: [Int64] = []
            for link in chain where runs.last != link.batch { runs.append(link.batch) }
            #expect(runs.count == 8 && Set(runs).count == 8, "round \(round): batches interleave: \(runs)")
            let statement = try store.database.prepare("SELECT source, count(*) FROM batch GROUP BY source")
            var sources = 0
            while try statement.step() {
                sources += 1
                #expect(statement.int(1) == 1, "round \(round): \(statement.string(0)) was ingested twice")
            }
            #expect(sources == 8)
        }
    }

    /// The WAL file's size, 0 when there is none.
    static func walSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    @Test("the WAL stays bounded while short readers come and go, grows under a long reader, and shrinks back after it")
    func walBounded() throws {
        let temporary = try TemporaryStore()
        var configuration = LogGenerator.Configuration()
        configuration.events = 400 * 130
        configuration.seed = 41
        var generator = LogGenerator(configuration)
        func batch() throws {
            var events: [Event] = []
            for _ in 0..<400 { if let event = generator.next() { events.append(event) } }
            _ = try temporary.store.append(contentsOf: events)
        }
        func shortRead() throws {
            let reader = try Store(path: temporary.path, access: .readOnly(immutable: false))
            try reader.database.readTransaction { _ = try reader.engine(at: try reader.headLink().seq) }
        }

        // Short readers between batches: checkpoints keep up.
        var shortMax: Int64 = 0
        for _ in 0..<60 {
            try batch()
            try shortRead()
            shortMax = max(shortMax, Self.walSize(temporary.path))
        }
        #expect(shortMax <= Store.walSizeLimit, "WAL reached \(shortMax) bytes with only short readers")

        // A reader that holds one snapshot: no checkpoint can pass it, the WAL grows.
        let long = try Store(path: temporary.path, access: .readOnly(immutable: false))
        try long.database.execute("BEGIN")
        let pinned = try long.headLink().seq
        var longMax: Int64 = 0
        for _ in 0..<60 {
            try batch()
            longMax = max(longMax, Self.walSize(temporary.path))
        }
        // The long reader still sees its snapshot.
        #expect(try long.headLink().seq == pinned)
        try long.database.execute("COMMIT")
        #expect(longMax > shortMax, "a long reader should hold the WAL back (\(longMax) vs \(shortMax))")

        // Once it lets go, the next batches checkpoint, restart the WAL and cut it to the limit.
        var after: Int64 = 0
        for _ in 0..<5 {
            try batch()
            try shortRead()
            after = Self.walSize(temporary.path)
        }
        #expect(after <= Store.walSizeLimit, "WAL still \(after) bytes after the long reader left")
        #expect(try Verifier(store: temporary.store).run().passed)
        print("wal: max \(shortMax) bytes over 60 batches with short readers; \(longMax) bytes under a reader held for 60 batches; \(after) bytes 5 batches after it closed (limit \(Store.walSizeLimit))")
    }
}

/// What the command thread of `readersDuringIngest` ran, shared with the test's thread.
final class CommandLog: @unchecked Sendable {
    private let lock = NSCondition()
    private var runs: [(name: String, result: ProcessResult)] = []
    private var stopRequested = false
    private var done = false

    var stopped: Bool { lock.withLock { stopRequested } }
    func stop() { lock.withLock { stopRequested = true } }
    func add(_ name: String, _ result: ProcessResult) { lock.withLock { runs.append((name, result)) } }
    func finish() {
        lock.withLock {
            done = true
            lock.broadcast()
        }
    }
    /// Waits for the thread to finish its last command and returns every run.
    func wait() -> [(name: String, result: ProcessResult)] {
        lock.lock()
        defer { lock.unlock() }
        while !done { lock.wait() }
        return runs
    }
}
