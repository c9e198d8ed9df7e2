import Foundation
import Testing
@testable import GmemStore

/// The interned names of a connection (`NameTable`), and what a rolled-back batch leaves of
/// them: ids written inside it are given to other names afterwards, so nothing may remember them.
@Suite struct NameTableTests {
    static func vm(_ op: String, _ name: String, _ ts: Int) -> String {
        #"{"op":"\#(op)","vm":"\#(name)","ts":\#(ts)}"# + "\n"
    }

    @Test("a name interned by a batch that rolled back is not remembered: its id, given to another name, reads back as that name")
    func rolledBackNamesAreForgotten() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        _ = try MergeIngest().ingest([(try temporary.file("first.jsonl", Self.vm("vm_create", "td1", 1)), .jsonl)], into: store)
        // Names alpha twice (so it is looked up after it was written), then a line that does not decode.
        let bad = try temporary.file("bad.jsonl", Self.vm("vm_create", "alpha", 2) + Self.vm("vm_destroy", "alpha", 3) + "{not json\n")
        #expect(throws: (any Error).self) { try MergeIngest().ingest([(bad, .jsonl)], into: store) }
        // beta is new: it takes the id alpha had inside the rolled-back batch.
        let good = try temporary.file("good.jsonl", Self.vm("vm_create", "beta", 4) + Self.vm("vm_create", "alpha", 5) + Self.vm("vm_destroy", "alpha", 6))
        _ = try MergeIngest().ingest([(good, .jsonl)], into: store)
        var names: [String?] = []
        try store.forEachDecodedEvent(in: 1...4) { _, event in
            switch event.op {
            case .vmCreate(let vm, _, _), .vmDestroy(let vm): names.append(vm)
            default: names.append(nil)
            }
        }
        #expect(names == ["td1", "beta", "alpha", "alpha"])
        #expect(try Verifier(store: store).run().passed)
    }
}
