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
        let frames = Set(hits.flatMap { [$0.span.frames.lowerBound, $0.span.frames.upperBound, $0.span.frames.upperBound + 1] })
        for frame in frames.sorted().prefix(400) {
            for width in [1, 3, 700] as [UInt64] {
                let query = frame...(frame + width - 1)
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

    /// Frames past 2^64 − 1 do not exist. A log line that claims them is refused (naming the
    /// field); the same events appended through the library are stored and replayed, never a
    /// trap: the pages are populated with the frames the event gives, the frame map, which
    /// holds ranges, leaves them out, and the frame index cuts their frames at 2^64 − 1.
    @Test func framesThatWouldWrapAreStoredNotATrap() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        for line in [
            #"{"op":"populate","gmem":"g","offset":0,"size":8192,"pfn":"0xffffffffffffffff"}"#,
            #"{"op":"reuse","pfn":"0xfffffffffffffffe","npages":4}"#,
        ] {
            #expect(throws: EventDecodingError.self) { try Event(jsonLine: line) }
            #expect(Array(line.utf8).withUnsafeBufferPointer { EventLineDecoder.decode($0) } == nil, "the fast path leaves it to the general decoder")
        }
        try ingest("""
            {"op":"vm_create","vm":"a"}
            {"op":"gmem_create","vm":"a","gmem":"g","size":65536}
            """, name: "wrap.jsonl", into: store)
        try store.append(contentsOf: [
            Event(.populate(.file(gmem: "g", offset: 0, size: 8192), pfn: .max)),
            Event(.punchHole(.file(gmem: "g", offset: 0, size: 8192))),
            Event(.reuse(pfn: .max - 1, npages: 4, owner: nil)),
        ])
        var engine = Engine()
        for stored in try storedEvents(store) { engine.apply(try stored.decoded()) }
        #expect(engine.state.frames.runs.isEmpty)
        #expect(try Verifier(store: store).run().problems.isEmpty)
        #expect(try History(store: store).entries(for: .frame(pfn: 0xffff_ffff_ffff_fffe, npages: 1)).map(\.seq) == [5])
        #expect(try History(store: store).entries(for: .frame(pfn: .max, npages: 1)).map(\.seq) == [3, 4, 5])
    }

    /// Every frame an event names is found, whatever its number: a frame span (first frame,
    /// frames) at 0, at 2^63 − 1 and 2^63 (where the index keys change sign), at 2^64 − 1,
    /// across 2^63, ending exactly at 2^64 − 1, and (a reuse or populate that a log says runs on
    /// past 2^64 − 1) cut there. For each of `mce`, `reuse` and `populate` with a pfn, on a store
    /// of its own: `history --pfn` finds the event at every frame it covers, in one-frame and
    /// ranged queries, and at no neighbour; `verify` passes.
    static let top: UInt64 = .max
    static let half: UInt64 = 1 << 63
    /// (first frame, frames the event claims, frames that exist).
    static let frameSpans: [(first: UInt64, claimed: UInt64, covered: UInt64)] = [
        (0, 1, 1), (0, 3, 3), (half - 1, 1, 1), (half, 1, 1), (top, 1, 1), (half - 2, 4, 4), (half - 1, 2, 2),
        (half - 3, 3, 3), (half, 3, 3), (top - 2, 3, 3), (top - 1, 2, 2), (top - 1, 5, 2), (top, 4, 1),
    ]

    @Test(arguments: ["mce", "reuse", "populate"])
    func everyFrameOfAnEventIsFoundAndNoOther(op: String) throws {
        var checked = 0
        for span in Self.frameSpans where op != "mce" || span.claimed == 1 {
            let temporary = try TemporaryStore()
            let store = try temporary.open()
            let pfn = "\"0x\(String(span.first, radix: 16))\""
            let label = "\(op) at \(String(span.first, radix: 16)) claiming \(span.claimed)"
            let event = switch op {
            case "mce": #"{"op":"mce","pfn":\#(pfn)}"#
            case "reuse": #"{"op":"reuse","pfn":\#(pfn),"npages":\#(span.claimed)}"#
            default: #"{"op":"populate","gmem":"g","offset":8192,"size":\#(span.claimed * 4096),"pfn":\#(pfn)}"#
            }
            let structure = """
                {"op":"vm_create","vm":"a"}
                {"op":"gmem_create","vm":"a","gmem":"g","size":65536}
                """
            if span.claimed == span.covered {
                try ingest(structure + "\n" + event, name: "frames.jsonl", into: store)
            } else {
                // A log that claims frames past 2^64 − 1 is refused, naming the field; the same
                // event appended through the library is stored, its frames cut at 2^64 − 1.
                #expect(throws: StoreError.self, "\(label)") { try ingest(structure + "\n" + event, name: "frames.jsonl", into: store) }
                do {
                    try ingest(structure + "\n" + event, name: "frames.jsonl", into: store)
                } catch let error as StoreError {
                    #expect(error.description.contains(op == "reuse" ? "field 'npages'" : "field 'pfn'"), "\(error)")
                    #expect(error.description.contains("run past the last frame, 0xffffffffffffffff"), "\(error)")
                }
                try ingest(structure, name: "structure.jsonl", into: store)
                try store.append(
                    op == "reuse"
                        ? Event(.reuse(pfn: span.first, npages: span.claimed, owner: nil))
                        : Event(.populate(.file(gmem: "g", offset: 8192, size: span.claimed * 4096), pfn: span.first)))
            }
            let history = History(store: store)
            let last = span.first + (span.covered - 1)
            // What `history --pfn` finds (nothing when it says no event names the frames).
            func found(_ pfn: UInt64, _ npages: UInt64) -> [HistoryEntry] {
                (try? history.entries(for: .frame(pfn: pfn, npages: npages))) ?? []
            }
            for frame in span.first...last {
                let entries = found(frame, 1)
                #expect(entries.map(\.seq) == [3], "\(label): frame \(String(frame, radix: 16))")
                if op == "populate" {
                    // Placed behind the page it backs, with that page's frame.
                    #expect(entries.last?.after.first?.gmem == "g", "\(label)")
                    #expect(entries.last?.after.first?.offset == 8192 + (frame - span.first) * 4096, "\(label): frame \(String(frame, radix: 16))")
                    #expect(entries.last?.after.first?.pfn == frame, "\(label): frame \(String(frame, radix: 16))")
                }
            }
            // Ranged queries that reach into the span from either side, and one past 2^64 − 1.
            #expect(found(span.first, .max).map(\.seq) == [3], "\(label)")
            if span.first > 0 { #expect(found(span.first - 1, 2).map(\.seq) == [3], "\(label)") }
            #expect(found(last, 3).map(\.seq) == [3], "\(label)")
            for neighbour in [span.first == 0 ? nil : span.first - 1, last == Self.top ? nil : last + 1].compactMap({ $0 }) {
                #expect(throws: History.Unplaced.self, "\(label): neighbour \(String(neighbour, radix: 16))") {
                    try history.entries(for: .frame(pfn: neighbour, npages: 1))
                }
            }
            #expect(try store.database.scalarInt("SELECT count(*) FROM frame_event") == 1, "\(label)")
            #expect(try Verifier(store: store).run().problems.isEmpty, "\(label)")
            checked += 1
        }
        #expect(checked == (op == "mce" ? 4 : Self.frameSpans.count))
    }

    /// The CLI finds a machine check on the last frame, 0xffffffffffffffff.
    @Test func theCLIFindsAMachineCheckOnTheLastFrame() throws {
        let temporary = try TemporaryStore()
        let input = try temporary.file("mce.jsonl", #"{"op":"mce","pfn":"0xffffffffffffffff"}"# + "\n")
        let ingest = try runCLI(["ingest", "--db", temporary.path, input])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let found = try runCLI(["history", "--db", temporary.path, "--pfn", "0xffffffffffffffff", "--format", "json"])
        #expect(found.status == 0, "\(found.stderr)")
        #expect(found.stdout.contains(#""op":"mce""#))
        let neighbour = try runCLI(["history", "--db", temporary.path, "--pfn", "0xfffffffffffffffe"])
        #expect(neighbour.status != 0)
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
