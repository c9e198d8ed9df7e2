import Testing

@testable import GmemStore

/// The time index (`ts_grid`, `ts_disorder`) of a log whose first timestamps are negative (a
/// clock before 1970: an event that decodes is stored, however strange). The writer took the
/// largest ts of an empty log for 0, so a store's first negative timestamps were filed as running
/// backwards, and `verify`, which starts from no timestamp at all, said the index was changed.
@Suite struct TimeIndexTests {
    @Test("negative first timestamps are in order, and verify agrees with the index the ingest wrote")
    func negativeFirstTimestamps() throws {
        let temporary = try TemporaryStore()
        let range = MemoryRange.file(gmem: "g", offset: 0, size: 0x1000)
        try temporary.store.append(contentsOf: [
            Event(.vmCreate(vm: "td", type: "tdx", tdxConnect: false)),
            Event(.gmemCreate(vm: "td", gmem: "g", size: 0x10000, flags: [], folioSize: 4096), ts: -5_000),
            Event(.populate(range, pfn: 1), ts: -4_000),
            Event(.map(range), ts: -6_000),
            Event(.accept(range), ts: 10),
        ])
        let disordered = try temporary.store.database.prepare("SELECT seq FROM ts_disorder ORDER BY seq")
        var seqs: [Int64] = []
        while try disordered.step() { seqs.append(disordered.int(0)) }
        #expect(seqs == [4], "only the map ran backwards")
        #expect(try Verifier(store: temporary.store).run().problems == [])
        #expect(try temporary.store.seq(atTime: -4_500) == 4)
        #expect(try temporary.store.seq(atTime: 10) == 5)
    }
}
