import Foundation
import Testing
@testable import GmemStore

/// `GmemLedger`, the library's entry point: shared by many tasks at once without losing,
/// duplicating or reordering an event; durable when `append` returns; the README's example
/// compiles and does what it says.
@Suite struct LedgerTests {
    static let writers = 6
    static let perWriter = 40
    static let batchSize = 5

    /// The vm name of writer `writer`'s `index`th event (single appends) or batch member.
    static func vm(_ writer: Int, _ index: Int) -> String { "w\(writer)-\(index)" }

    @Test("tasks appending and reading at once: every event once, seqs gap-free, each writer's order and batches kept, reads see one head")
    func concurrentAppendsAndReads() async throws {
        let temporary = try TemporaryStore()
        let ledger = try GmemLedger(path: temporary.path)
        let readsSeen = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for writer in 0..<Self.writers {
                group.addTask {
                    // Even writers append one event at a time, odd ones in batches.
                    if writer % 2 == 0 {
                        for index in 0..<Self.perWriter {
                            let verdict = try ledger.append(Event(.vmCreate(vm: Self.vm(writer, index), type: "tdx", tdxConnect: false), id: Self.vm(writer, index)))
                            #expect(verdict != nil, "a new id was skipped")
                        }
                    } else {
                        for start in stride(from: 0, to: Self.perWriter, by: Self.batchSize) {
                            let events = (start..<start + Self.batchSize).map {
                                Event(.vmCreate(vm: Self.vm(writer, $0), type: "tdx", tdxConnect: false), id: Self.vm(writer, $0))
                            }
                            let summary = try ledger.append(contentsOf: events)
                            #expect(summary.added == Self.batchSize && summary.skipped == 0)
                        }
                    }
                    return []
                }
            }
            for _ in 0..<3 {
                group.addTask {
                    // A reader: heads never go back, and the state at each head has exactly
                    // as many VMs as events (every event creates one).
                    var heads: [Int64] = []
                    while heads.last ?? 0 < Int64(Self.writers * Self.perWriter) {
                        let (head, vms) = try ledger.read { reader in
                            let head = try reader.head()
                            return (head, try reader.state().vms.count)
                        }
                        #expect(Int64(vms) == head, "state at head \(head) has \(vms) VMs")
                        #expect(head >= heads.last ?? 0, "the head went back from \(heads.last ?? 0) to \(head)")
                        heads.append(head)
                        await Task.yield()
                    }
                    return heads
                }
            }
            var all: [[Int64]] = []
            for try await heads in group where !heads.isEmpty { all.append(heads) }
            return all
        }
        #expect(readsSeen.count == 3)

        let total = Self.writers * Self.perWriter
        let events = try ledger.read { reader in
            let head = try reader.head()
            return try (1...max(head, 1)).map { try reader.event(at: $0) }
        }
        #expect(events.count == total, "head \(events.count), appended \(total)")
        let names = events.map { event -> String in
            guard case .vmCreate(let vm, _, _)? = event?.op else { return "missing" }
            return vm
        }
        #expect(!names.contains("missing"), "a seq between 1 and the head holds no event")
        #expect(Set(names).count == total, "an event is stored twice or lost")
        #expect(Set(names) == Set((0..<Self.writers).flatMap { w in (0..<Self.perWriter).map { Self.vm(w, $0) } }))
        for writer in 0..<Self.writers {
            let positions = (0..<Self.perWriter).map { index in names.firstIndex(of: Self.vm(writer, index))! }
            #expect(positions == positions.sorted(), "writer \(writer)'s events are out of order")
            if writer % 2 == 1 {
                for start in stride(from: 0, to: Self.perWriter, by: Self.batchSize) {
                    #expect(positions[start + Self.batchSize - 1] - positions[start] == Self.batchSize - 1, "writer \(writer)'s batch at \(start) was interleaved")
                }
            }
        }
        // The same events again: every id is known, nothing is added.
        #expect(try ledger.append(Event(.vmCreate(vm: Self.vm(0, 0), type: "tdx", tdxConnect: false), id: Self.vm(0, 0))) == nil)
        #expect(try ledger.read { try $0.head() } == Int64(total))
        let check = try temporary.open(.readOnly(immutable: false))
        #expect(try Verifier(store: check).run().passed)
    }

    @Test("an append is committed when it returns: another connection and another process see it; the connection is WAL with synchronous=FULL")
    func appendIsDurable() throws {
        let temporary = try TemporaryStore()
        let ledger = try GmemLedger(path: temporary.path)
        let settings = try ledger.read { reader in
            let mode = try reader.store.database.prepare("PRAGMA journal_mode")
            _ = try mode.step()
            return (try reader.store.database.scalarInt("PRAGMA synchronous"), mode.string(0))
        }
        #expect(settings.0 == 2, "synchronous is \(settings.0.map(String.init) ?? "unset"), not FULL (2)")
        #expect(settings.1 == "wal")

        try ledger.append(Event(.vmCreate(vm: "td0", type: "tdx", tdxConnect: true), id: "durable-1"))
        // A second connection, as another program would open it, while the ledger is still open.
        let other = try temporary.open(.readOnly(immutable: false))
        #expect(try other.headLink().seq == 1)
        #expect(try other.storedEvent(1)?.event.id == "durable-1")

        try ledger.append(contentsOf: [
            Event(.gmemCreate(vm: "td0", gmem: "g0", size: 0x200000, flags: [], folioSize: 4096), id: "durable-2"),
            Event(.vmDestroy(vm: "td0"), id: "durable-3"),
        ])
        // Another process, the ledger still open in this one.
        let exported = try runCLI(["export", "--db", temporary.path])
        #expect(exported.status == 0, "\(exported.stderr)")
        let ids = exported.stdout.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? String
        }
        #expect(ids == ["durable-1", "durable-2", "durable-3"], "\(exported.stdout)")
    }

    @Test("read gives state(at:), history and findings of one head; audit stores and returns findings")
    func readAndAudit() throws {
        let temporary = try TemporaryStore()
        let ledger = try GmemLedger(path: temporary.path)
        let page = MemoryRange.file(gmem: "g0", offset: 0, size: 0x1000)
        try ledger.append(contentsOf: [
            Event(.vmCreate(vm: "td0", type: "tdx", tdxConnect: false)),
            Event(.gmemCreate(vm: "td0", gmem: "g0", size: 0x200000, flags: [], folioSize: 4096)),
        ])
        try ledger.append(Event(.populate(page, pfn: 0x100000)))
        try ledger.append(Event(.hostAccess(page), result: "ok"))
        let (before, after, history) = try ledger.read { reader in
            (try reader.state(at: 2), try reader.state(), try reader.history(.file(gmem: "g0", offset: 0, size: 0x1000)))
        }
        #expect(before.frames.isEmpty && !after.frames.isEmpty, "populate recorded no frame")
        #expect(history.map(\.seq) == [3, 4], "\(history.map(\.seq))")
        let audit = try ledger.audit()
        #expect(audit.summary.audited == 4 && audit.summary.head == 4)
        // The host read a private page (R07, critical because it worked), which the model says
        // fails with ENODEV on a gmem file without mmap (R11).
        #expect(audit.findings.map(\.rule) == ["GM-R07", "GM-R11"], "\(audit.findings)")
        #expect(audit.findings.first?.severity == .critical)
        #expect(try ledger.read { try $0.findings() } == audit.findings)
        // A second audit has nothing new to audit and returns the same findings.
        let again = try ledger.audit()
        #expect(again.summary.audited == 0 && again.findings == audit.findings)
    }

    @Test("the README's Library example: the same lines, compiled and run here")
    func readmeExample() throws {
        let temporary = try TemporaryStore()
        let path = temporary.path
        // BEGIN README example (README.md "Library", docs/LIBRARY.md)
        let ledger = try GmemLedger(path: path)  // created when missing
        let page = MemoryRange.file(gmem: "g0", offset: 0, size: 0x1000)
        try ledger.append(Event(.vmCreate(vm: "td0", type: "tdx", tdxConnect: false)))
        try ledger.append(Event(.gmemCreate(vm: "td0", gmem: "g0", size: 0x200000, flags: [], folioSize: 4096)))
        try ledger.append(Event(.populate(page, pfn: 0x100000)))  // on disk when it returns
        try ledger.append(Event(.hostAccess(page)))
        let history = try ledger.read { try $0.history(.file(gmem: "g0", offset: 0, size: 0x1000)) }
        let findings = try ledger.audit().findings  // GM-R07: the host touched a private page
        print(history.count, findings.map(\.rule))  // 2 ["GM-R07"]
        // END README example
        #expect(history.count == 2)
        #expect(findings.map(\.rule) == ["GM-R07"])

        // The README and docs/LIBRARY.md show exactly these lines.
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let begin = source.range(of: "// BEGIN README example")!, end = source.range(of: "        // END README example")!
        let example = source[begin.upperBound..<end.lowerBound].split(separator: "\n").dropFirst()
            .map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(example.count == 9)
        for document in ["README.md", "docs/LIBRARY.md"] {
            let text = try String(contentsOfFile: repositoryRoot + "/" + document, encoding: .utf8)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let start = lines.firstIndex(of: example[0])
            #expect(start != nil, "\(document) lacks the example")
            if let start {
                #expect(Array(lines[start..<min(start + example.count, lines.count)]) == example, "\(document)'s example differs from the test's")
            }
        }
    }

    @Test("a program using GmemStore alone does not depend on Yams: only GmemPolicy does, and the CLI uses it")
    func gmemStoreDoesNotDependOnYams() throws {
        let manifest = try String(contentsOfFile: repositoryRoot + "/Package.swift", encoding: .utf8)
        /// The text of the target declaration named `name` (a product's name is followed by
            /// `, targets:`, a target's by a new line), up to its `path:`.
        func target(_ name: String) -> Substring? {
            guard let start = manifest.range(of: "name: \"\(name)\",\n") else { return nil }
            guard let end = manifest.range(of: "path: ", range: start.upperBound..<manifest.endIndex) else { return nil }
            return manifest[start.lowerBound..<end.lowerBound]
        }
        let store = try #require(target("GmemStore"))
        #expect(!store.contains("Yams"), "GmemStore depends on Yams:\n\(store)")
        #expect(try #require(target("GmemPolicy")).contains("Yams"))
        #expect(try #require(target("gmem-audit")).contains("\"GmemPolicy\""))
        let sources = try FileManager.default.subpathsOfDirectory(atPath: repositoryRoot + "/Sources/GmemStore").filter { $0.hasSuffix(".swift") }
        for file in sources {
            let text = try String(contentsOfFile: repositoryRoot + "/Sources/GmemStore/" + file, encoding: .utf8)
            #expect(!text.contains("import Yams"), "Sources/GmemStore/\(file) imports Yams")
        }
    }
}
