import PropertyBased
import Testing
@testable import GmemStore

/// The one vocabulary table (EventVocabulary.swift) against every codec that reads it: random
/// events of every op, with random field values, must survive both decoders, the canonical
/// writer and the row codec unchanged.
@Suite struct VocabularyRoundTripTests {
    /// Random values from one seed (SplitMix64), so that a failing seed replays.
    final class Values {
        var state: UInt64

        init(state: UInt64) { self.state = state }

        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        func below(_ bound: UInt64) -> UInt64 { next() % bound }
        func chance() -> Bool { next() & 1 == 1 }

        /// A number, now small, now near 2^64.
        func number() -> UInt64 {
            switch below(4) {
            case 0: below(10)
            case 1: below(1 << 20)
            case 2: UInt64.max - below(10)
            default: next()
            }
        }

        /// A page-aligned address `start` with room for `size` after it.
        func aligned(room size: UInt64 = 0) -> UInt64 {
            let limit = (UInt64.max - size) / pageSize + 1
            return below(4) == 0 ? (limit - 1 - below(min(limit, 4))) * pageSize : below(min(limit, 1 << 30)) * pageSize
        }

        func size() -> UInt64 { (below(4) == 0 ? next() >> 13 : below(512)) * pageSize + pageSize }

        /// Text of every shape JSON must carry: plain, escaped, control characters, wide UTF-8.
        static let texts = [
            "a", "td0", "guest", "teardown", "12", "0x10", "quote \" and \\ backslash", "line\nbreak\ttab",
            "\u{01}\u{1F}", "é ü 漢字 🙂", "/slash", " ", "",
        ]

        func text() -> String { Self.texts[Int(below(UInt64(Self.texts.count)))] }

        /// A name of a thing: no control character and not empty (the decoders refuse those).
        func identifier() -> String {
            let text = self.text()
            return text.isEmpty || text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) ? "vm\(below(3))" : text
        }

        func range() -> MemoryRange {
            let size = size()
            return chance()
                ? .file(gmem: identifier(), offset: aligned(room: size), size: size)
                : .guest(vm: identifier(), gpa: aligned(room: size), size: size)
        }

        func maybe<T>(_ value: () -> T) -> T? { chance() ? value() : nil }

        func operation(_ kind: Operation.Kind) -> Operation {
            switch kind {
            case .vmCreate: return .vmCreate(vm: identifier(), type: text(), tdxConnect: chance())
            case .vmDestroy: return .vmDestroy(vm: identifier())
            case .vmBugged: return .vmBugged(vm: identifier(), reason: maybe { text() })
            case .gmemCreate:
                let flags = (0..<below(3)).map { _ in text() }
                return .gmemCreate(
                    vm: identifier(), gmem: identifier(), size: size(), flags: flags,
                    folioSize: [4096, 2_097_152, 1_073_741_824][Int(below(3))])
            case .gmemClose: return .gmemClose(gmem: identifier())
            case .bind:
                let size = size()
                return .bind(
                    vm: identifier(), gmem: identifier(), slot: number(), gpa: aligned(room: size), size: size,
                    offset: aligned(room: size), hva: maybe { number() })
            case .unbind: return .unbind(vm: identifier(), slot: number())
            case .populate:
                let range = range()
                let pages = range.size / pageSize
                return .populate(range, pfn: maybe { below(4) == 0 ? UInt64.max - (pages - 1) : below(UInt64.max - pages) })
            case .punchHole: return .punchHole(range())
            case .map: return .map(range())
            case .zap: return .zap(range(), reason: maybe { text() })
            case .convertRequest:
                let size = size()
                return .convertRequest(
                    vm: identifier(), gpa: aligned(room: size), size: size, to: chance() ? .private : .shared, implicit: chance())
            case .convert: return .convert(range(), to: chance() ? .private : .shared)
            case .accept: return .accept(range())
            case .pin: return .pin(range(), holder: Holder.allCases[Int(below(4))])
            case .release: return .release(range(), holder: Holder.allCases[Int(below(4))])
            case .hostAccess: return .hostAccess(range())
            case .reuse:
                let npages = below(4) == 0 ? next() | 1 : below(512) + 1
                return .reuse(pfn: below(UInt64.max - (npages - 1)), npages: npages, owner: maybe { identifier() })
            case .mce: return .mce(pfn: number())
            case .context: return .context(tracepoint: identifier())
            case .gap: return .gap(source: identifier(), lost: maybe { number() })
            case .retract:
                let first = below(UInt64(Int64.max)) + 1
                let last = first + below(UInt64(Int64.max) - first + 1)
                let reason = text()
                return .retract(
                    batch: below(UInt64(Int64.max)) + 1, firstSeq: first, lastSeq: last,
                    lastHash: (0..<32).map { _ in UInt8(truncatingIfNeeded: next()) },
                    reason: reason.contains(where: { !$0.isWhitespace }) ? reason : "misread")
            }
        }

        func event(_ kind: Operation.Kind) -> Event {
            let op = operation(kind)
            return Event(
                op, ts: maybe { Int64(bitPattern: next()) }, id: maybe { identifier() }, host: chance() ? "local" : identifier(),
                actor: maybe { text() }, result: maybe { chance() ? "ok" : text() }, errorOffset: maybe { aligned() },
                note: maybe { text() },
                source: maybe { EventSource(file: identifier(), line: number(), text: maybe { text() }) },
                kernel: kind == .vmCreate ? maybe { KernelProfile.allCases[Int(below(2))] } : nil,
                via: kind == .convert ? maybe { ConversionPath.allCases[Int(below(2))] } : nil)
        }
    }

    @Test("the table lists every op once, in code order, and names every op's fields")
    func tableListsEveryOp() {
        #expect(OperationSpec.all.count == Operation.Kind.allCases.count, "an op is missing from OperationSpec.all")
        for (index, kind) in Operation.Kind.allCases.enumerated() {
            let spec = OperationSpec.all[index]
            #expect(spec.kind == kind, "row \(index + 1) of OperationSpec.all is \(spec.kind), not \(kind)")
            #expect(spec.code == Int64(index + 1))
            #expect(OperationSpec.named(spec.name)?.kind == kind)
        }
        #expect(Set(OperationSpec.all.map(\.name)).count == OperationSpec.all.count, "two ops share a name")
        // The codes of the ops schema 1 shipped with (Migrations/0001_schema.sql) never move.
        #expect(Array(EventRow.opNames.prefix(20)) == [
            "vm_create", "vm_destroy", "vm_bugged", "gmem_create", "gmem_close", "bind", "unbind", "populate", "punch_hole", "map",
            "zap", "convert_request", "convert", "accept", "pin", "release", "host_access", "reuse", "mce", "context",
        ])
        #expect(EventRow.opCodes["gap"] == 21 && EventRow.opCodes["retract"] == 22)
        // Every op of a random event is the table's, with as many values as its row has fields.
        let values = Values(state: 1)
        for kind in Operation.Kind.allCases {
            let op = values.operation(kind)
            #expect(op.kind == kind)
            #expect(op.values.count == kind.spec.fields.count, "\(kind)")
            #expect(Operation(kind, values: op.values) == op, "\(kind)")
        }
    }

    /// The row layout of schema 1 (docs/STORE.md, "The event table"), one event per op: the
    /// table must keep every field in the column that stores and exports have always used.
    @Test("every op's fields stay in the columns schema 1 gives them")
    func rowLayoutIsSchemaOne() throws {
        let names = ["local", "v", "g", "tdx", "r", #"["mmap"]"#, "o", "t", "s"]
        func n(_ text: String) -> EventRow.Value { .integer(Int64(names.firstIndex(of: text)! + 100)) }
        let file = MemoryRange.file(gmem: "g", offset: 0x1000, size: 0x2000)
        let guest = MemoryRange.guest(vm: "v", gpa: 0x3000, size: 0x4000)
        let fileColumns: [String: EventRow.Value] = ["gmem": n("g"), "offset": .integer(0x1000), "size": .integer(0x2000)]
        let guestColumns: [String: EventRow.Value] = ["vm": n("v"), "gpa": .integer(0x3000), "size": .integer(0x4000)]
        let hash = [UInt8](repeating: 0xAB, count: 32)
        let cases: [(Event, [String: EventRow.Value])] = [
            (Event(.vmCreate(vm: "v", type: "tdx", tdxConnect: true), kernel: .upstream2026),
             ["vm": n("v"), "label": n("tdx"), "mode": .integer(1 | 2 << 3)]),
            (Event(.vmDestroy(vm: "v")), ["vm": n("v")]),
            (Event(.vmBugged(vm: "v", reason: "r")), ["vm": n("v"), "label": n("r")]),
            (Event(.gmemCreate(vm: "v", gmem: "g", size: 0x2000, flags: ["mmap"], folioSize: 2_097_152)),
             ["vm": n("v"), "gmem": n("g"), "size": .integer(0x2000), "label": n(#"["mmap"]"#), "count": .integer(2_097_152)]),
            (Event(.gmemClose(gmem: "g")), ["gmem": n("g")]),
            (Event(.bind(vm: "v", gmem: "g", slot: 3, gpa: 0x3000, size: 0x4000, offset: 0x1000, hva: 7)),
             ["vm": n("v"), "gmem": n("g"), "count": .integer(3), "gpa": .integer(0x3000), "size": .integer(0x4000),
              "offset": .integer(0x1000), "hva": .integer(7)]),
            (Event(.unbind(vm: "v", slot: 4)), ["vm": n("v"), "count": .integer(4)]),
            (Event(.populate(file, pfn: 9)), fileColumns.merging(["pfn": .integer(9)]) { $1 }),
            (Event(.punchHole(guest)), guestColumns),
            (Event(.map(file)), fileColumns),
            (Event(.zap(guest, reason: "r")), guestColumns.merging(["label": n("r")]) { $1 }),
            (Event(.convertRequest(vm: "v", gpa: 0x3000, size: 0x4000, to: .private, implicit: true)),
             guestColumns.merging(["mode": .integer(3)]) { $1 }),
            (Event(.convert(file, to: .shared), via: .vm), fileColumns.merging(["mode": .integer(2 << 5)]) { $1 }),
            (Event(.accept(guest)), guestColumns),
            (Event(.pin(file, holder: .vfio)), fileColumns.merging(["holder": .integer(2)]) { $1 }),
            (Event(.release(file, holder: .gup)), fileColumns.merging(["holder": .integer(3)]) { $1 }),
            (Event(.hostAccess(guest)), guestColumns),
            (Event(.reuse(pfn: 5, npages: 6, owner: "o")), ["pfn": .integer(5), "count": .integer(6), "label": n("o")]),
            (Event(.mce(pfn: 5)), ["pfn": .integer(5)]),
            (Event(.context(tracepoint: "t")), ["label": n("t")]),
            (Event(.gap(source: "s", lost: 7)), ["label": n("s"), "count": .integer(7)]),
            (Event(.retract(batch: 2, firstSeq: 3, lastSeq: 4, lastHash: hash, reason: "r")),
             ["count": .integer(2), "offset": .integer(3), "size": .integer(4), "label": n("r"), "digest": .blob(hash)]),
        ]
        #expect(Set(cases.map(\.0.op.kind)) == Set(Operation.Kind.allCases))
        let columns = EventRow.columns.split(separator: ", ").map(String.init)
        for (event, fields) in cases {
            var expected = fields.merging(["op": .integer(event.op.spec.code), "host": n("local")]) { $1 }
            expected = expected.filter { $0.value != .null }
            let row = try EventRow.values(of: event) { text in Int64(names.firstIndex(of: text)! + 100) }
            var stored: [String: EventRow.Value] = [:]
            for (column, value) in zip(columns, row) where value != .null { stored[column] = value }
            #expect(stored == expected, "\(event.op.name)")
        }
    }

    @Test("the fast decoder's key matcher knows every key by its name")
    func everyKeyIsMatched() {
        for field in EventField.allCases {
            let matched = field.name.withUTF8Buffer { EventField.named($0) }
            #expect(matched == field, "\(field.key)")
        }
        #expect(Event.knownFields.count == EventField.allCases.count)
    }

    @Test(
        "random events of every op survive both decoders, the canonical writer and the row codec",
        .shrinking(false))
    func everyOpRoundTrips() async throws {
        let scratch = try TemporaryStore()
        let database = scratch.store.database
        try database.execute("CREATE TEMP TABLE event_row AS SELECT \(EventRow.columns) FROM event WHERE 0")
        let placeholders = Array(repeating: "?", count: Int(EventRow.columnCount)).joined(separator: ", ")
        await propertyCheck(count: 60, input: Gen.uint64()) { seed in
            let values = Values(state: seed)
            for kind in Operation.Kind.allCases {
                for _ in 0..<3 {
                    let event = values.event(kind)
                    do {
                        try Self.check(event, database: database, names: scratch.store.names, placeholders: placeholders)
                    } catch {
                        Issue.record("seed \(seed) \(kind): \(error)")
                    }
                }
            }
        }
    }

    static func check(_ event: Event, database: Database, names: NameTable, placeholders: String) throws {
        // Event → canonical JSON → both decoders → the event.
        let line = event.canonicalJSON
        let general = try Event(json: try JSONParser.parse(line))
        #expect(general == event, "general decoder: \(line)")
        var text = line
        let fast = text.withUTF8 { EventLineDecoder.decode($0) }
        if let fast {
            #expect(fast == general, "fast decoder: \(line)")
        } else {
            // The fast path declines only what it does not take: escaped strings, a DEL in an
            // id, and the ops it leaves to the general decoder.
            let declines = line.contains("\\") || line.contains("\u{7F}") || event.op.kind == .context || event.op.kind == .retract
            #expect(declines, "the fast decoder declined a plain line: \(line)")
        }
        #expect(try Event(jsonLine: line) == event, "\(line)")
        // Event → row values → a stored row → the event.
        try database.execute("DELETE FROM event_row")
        let insert = try database.prepare("INSERT INTO event_row VALUES (\(placeholders))")
        try EventRow.bind(event, to: insert, from: 1, names: names)
        try insert.run()
        let select = try database.prepare("SELECT \(EventRow.columns) FROM event_row")
        #expect(try select.step())
        let stored = try EventRow.event(from: select, at: 0, names: names)
        #expect(stored == event, "row codec: \(line)")
        #expect(stored.canonicalJSON == line)
    }
}
