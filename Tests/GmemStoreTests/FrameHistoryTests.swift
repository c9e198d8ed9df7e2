import Testing
@testable import GmemStore

/// `history --pfn`: the frame index must find exactly the events that name a frame, place the
/// frame behind the file page it last backed, and give the same answer for events stored
/// before the index existed.
@Suite struct FrameHistoryTests {
    /// A generated log (populates with frames, reuses of quarantined frames, machine checks)
    /// and every frame span of it from a full replay.
    func makeStore(_ temporary: TemporaryStore) throws -> (Store, [FrameIndex.Hit], GmemState) {
        let store = try temporary.open()
        try ingest(generatedLog(events: 4000, seed: 23, gmemSize: 8 << 20, misbehaviour: 0.3), name: "gen.jsonl", into: store)
        var engine = Engine()
        var hits: [FrameIndex.Hit] = []
        for stored in try storedEvents(store) {
            let event = try stored.decoded()
            let verdict = engine.apply(event)
            for span in FrameIndex.spans(of: event, verdict: verdict, fileName: { engine.state.files[$0].name }) {
                hits.append(FrameIndex.Hit(seq: stored.seq, span: span))
            }
        }
        return (store, hits, engine.state)
    }

    @Test func indexFindsExactlyTheEventsNamingAFrame() throws {
        let temporary = try TemporaryStore()
        let (store, hits, _) = try makeStore(temporary)
        #expect(hits.contains { $0.span.gmem == nil } && hits.contains { $0.span.gmem != nil }, "placed and unplaced spans")
        #expect(try store.database.scalarInt("SELECT count(*) FROM frame_event") == Int64(hits.count))
        let frames = Set(hits.flatMap { [$0.span.frames.lowerBound, $0.span.frames.upperBound - 1, $0.span.frames.upperBound] })
        for frame in frames.sorted().prefix(400) {
            for width in [1, 3, 700] as [UInt64] {
                let query = frame..<(frame + width)
                let expected = hits.filter { $0.span.frames.overlaps(query) }
                    .sorted { ($0.seq, $0.span.frames.lowerBound) < ($1.seq, $1.span.frames.lowerBound) }
                #expect(try FrameIndex.events(touching: query, in: store) == expected, "frames \(query)")
            }
        }
    }

    @Test func aFrameIsPlacedBehindThePageItBacks() throws {
        let temporary = try TemporaryStore()
        let (store, hits, state) = try makeStore(temporary)
        var checked = 0
        for run in state.frames.runs.prefix(60) {
            let frame = run.lower
            let file = state.files[run.value.file]
            let page = UInt64(Int64(bitPattern: frame) + run.value.pageDelta)
            let entries = try History(store: store).entries(for: .frame(pfn: frame, npages: 1))
            let seqs = Set(entries.map(\.seq))
            // Every event naming the frame is there, and the file page's own events since the
            // frame was put behind it.
            for hit in hits where hit.span.frames.contains(frame) { #expect(seqs.contains(hit.seq), "frame \(frame) seq \(hit.seq)") }
            let placedAt = hits.filter { $0.span.frames.contains(frame) && $0.span.gmem != nil }.map(\.seq).max() ?? 0
            let pageEvents = try History(store: store).entries(for: .file(gmem: file.name, offset: page * pageSize, size: pageSize))
            #expect(Set(pageEvents.map(\.seq).filter { $0 >= placedAt }).isSubset(of: seqs))
            #expect(entries.last?.after.first?.gmem == file.name)
            #expect(entries.last?.after.first?.offset == page * pageSize)
            #expect(entries.last?.after.first?.pfn == frame)
            checked += 1
        }
        #expect(checked > 20)
    }

    /// Seed scenario 03: a frame pinned by the TD, a failed unmap that quarantines it, the dead
    /// VM's file closed, the frame reused by another VM and a machine check. Its history is the
    /// whole story, each event with the page that held the frame at the time.
    @Test func aReusedFrameTellsTheWholeStory() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        _ = try SeedScenarios.ingest(SeedScenarios.all.first { $0.name.hasPrefix("03") }!, into: store)
        let entries = try History(store: store).entries(for: .frame(pfn: 0x300010, npages: 1))
        #expect(entries.map(\.seq) == [4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17])
        #expect(entries.first { $0.seq == 8 }?.after.first?.page.quarantined == true)
        #expect(entries.first { $0.seq == 8 }?.after.first?.gmem == "g03")
        #expect(entries.first { $0.seq == 8 }?.after.first?.offset == 0x10000)
        #expect(entries.first { $0.seq == 15 }?.after.first?.gmem == "g03b")
        #expect(entries.last?.after.first?.pfn == 0x300010)
    }

    /// Frames at or above 2^63 (no machine has them, but a log may say so) are indexed like
    /// any other: the index keys are the frame numbers with the top bit flipped.
    @Test func framesBeyondTheIndexAreFound() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        try ingest("""
            {"op":"vm_create","vm":"a"}
            {"op":"gmem_create","vm":"a","gmem":"g","size":65536}
            {"op":"populate","gmem":"g","offset":8192,"size":8192,"pfn":"0x8000000000000000"}
            {"op":"mce","pfn":"0xfffffffffffffff0"}
            {"op":"populate","gmem":"g","offset":0,"size":4096,"pfn":4096}
            """, name: "high.jsonl", into: store)
        #expect(try store.database.scalarInt("SELECT count(*) FROM frame_event") == 3)
        let history = History(store: store)
        let populated = try history.entries(for: .frame(pfn: 0x8000_0000_0000_0001, npages: 1))
        #expect(populated.map(\.seq) == [3])
        #expect(populated.last?.after.first?.offset == 12288)
        #expect(try history.entries(for: .frame(pfn: 0xffff_ffff_ffff_fff0, npages: 1)).map(\.seq) == [4])
        #expect(try history.entries(for: .frame(pfn: 4096, npages: 1)).map(\.seq) == [5])
        #expect(try Verifier(store: store).run().problems.isEmpty)
    }

    /// A populate whose frames would run past 2^64 − 1 is stored and replayed, never a trap:
    /// its pages are populated with the frames the log gives, and the frame map, which holds
    /// ranges, leaves them out.
    @Test func framesThatWouldWrapAreStoredNotATrap() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        try ingest("""
            {"op":"vm_create","vm":"a"}
            {"op":"gmem_create","vm":"a","gmem":"g","size":65536}
            {"op":"populate","gmem":"g","offset":0,"size":8192,"pfn":"0xffffffffffffffff"}
            {"op":"punch_hole","gmem":"g","offset":0,"size":8192}
            {"op":"reuse","pfn":"0xfffffffffffffffe","npages":4}
            """, name: "wrap.jsonl", into: store)
        var engine = Engine()
        for stored in try storedEvents(store) { engine.apply(try stored.decoded()) }
        #expect(engine.state.frames.runs.isEmpty)
        #expect(try Verifier(store: store).run().problems.isEmpty)
        #expect(try History(store: store).entries(for: .frame(pfn: 0xffff_ffff_ffff_fffe, npages: 1)).map(\.seq) == [5])
    }

    @Test func anUnknownFrameIsUnplaced() throws {
        let temporary = try TemporaryStore()
        let (store, _, _) = try makeStore(temporary)
        // Addresses and sizes at the top of the address space are answered, never a trap.
        #expect(try History(store: store).entries(for: .file(gmem: "g1", offset: 0xffff_ffff_ffff_f000, size: .max)).isEmpty)
        #expect(History.pages(from: 0xffff_ffff_ffff_f000, size: .max) == (0xf_ffff_ffff_ffff as UInt64)..<0x10_0000_0000_0000)
        #expect(History.pages(from: 0x2000, size: 0x1001) == 2..<4)
        #expect(History.pages(from: 0x2000, size: 0).isEmpty)
        #expect(throws: History.Unplaced.self) { try History(store: store).entries(for: .frame(pfn: 1 << 62, npages: 1)) }
        #expect(throws: History.Unplaced.self) { try History(store: store).entries(for: .frame(pfn: .max, npages: 1)) }
    }
}
