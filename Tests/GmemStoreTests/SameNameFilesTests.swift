import Testing

@testable import GmemStore

/// Two gmem files open under one name (a producer that names files by a number it reuses, or
/// never closes one) are stored as they come. One event that touches both — a gap marks every
/// open file, a guest range can run through two bindings — files two spans of one seq at the
/// same first page in the page index. `verify` took the second for a change of the first.
@Suite struct SameNameFilesTests {
    static let log = """
        {"op":"vm_create","vm":"td","type":"tdx"}
        {"op":"gmem_create","vm":"td","gmem":"g","size":"0x10c000"}
        {"op":"gmem_create","vm":"td","gmem":"g","size":"0x12c000"}
        {"op":"gap","source":"trace"}
        """

    @Test("one event touching two files of one name verifies, and a page index without its spans is still caught")
    func twoFilesOfOneName() throws {
        let temporary = try TemporaryStore()
        try ingest(Self.log, name: "same-name.jsonl", into: temporary.store)
        let spans = try temporary.store.database.scalarInt("SELECT count(*) FROM page_pack WHERE first_seq = 4") ?? 0
        #expect(spans == 1, "both spans of seq 4 share one pack")
        #expect(try Verifier(store: temporary.store).run().problems == [])

        try temporary.store.database.execute("DELETE FROM page_pack WHERE first_seq = 4")
        let problems = try Verifier(store: temporary.store).run().problems
        #expect(problems.contains { $0.hasPrefix("seq 4: the page overlap index lacks the event's span g pages 0…267") }, "\(problems)")
    }
}
