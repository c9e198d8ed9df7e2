import Testing
@testable import GmemStore

/// The page index's compact event form must give back exactly what a history replays and
/// prints: the op, time, host, actor, result, error offset and the recorded outcome.
@Suite struct EventFormTests {
    /// What the form keeps of an event: everything but the id, note, source and unknown fields.
    func kept(_ event: Event) -> Event {
        Event(event.op, ts: event.ts, host: event.host, actor: event.actor, result: event.result, errorOffset: event.errorOffset)
    }

    func events() throws -> [Event] {
        var texts = SeedScenarios.all.map(\.text)
        texts.append(generatedLog(events: 3000, seed: 5, misbehaviour: 0.3))
        var events: [Event] = []
        for text in texts {
            for line in text.split(separator: "\n") where line.hasPrefix("{") { events.append(try Event(jsonLine: String(line))) }
        }
        // Fields the seeds and the generator leave at their defaults.
        events.append(Event(.vmBugged(vm: "td1", reason: nil), ts: -1, host: "node-7", actor: "someone", result: "EIO"))
        events.append(Event(.zap(.guest(vm: "td1", gpa: 0x1000, size: 0x1000), reason: "teardown"), ts: .max))
        events.append(Event(.reuse(pfn: .max, npages: 3, owner: nil), ts: .min))
        events.append(Event(.reuse(pfn: 7, npages: 1, owner: "kernel")))
        events.append(Event(.convertRequest(vm: "é", gpa: 0, size: 0, to: .private, implicit: true)))
        events.append(Event(.convert(.file(gmem: "g", offset: 0, size: 0x2000), to: .private), result: "EAGAIN", errorOffset: 0x1000))
        events.append(Event(.context(tracepoint: "kvm_pio")))
        events.append(Event(.gmemCreate(vm: "v", gmem: "g", size: 1 << 40, flags: ["mmap", "init_shared"], folioSize: 1 << 30)))
        events.append(Event(.bind(vm: "v", gmem: "g", slot: .max, gpa: 0, size: 4096, offset: 0, hva: nil)))
        for holder in Holder.allCases {
            events.append(Event(.pin(.file(gmem: "g", offset: 0, size: 4096), holder: holder)))
            events.append(Event(.release(.guest(vm: "v", gpa: 0, size: 4096), holder: holder)))
        }
        return events
    }

    @Test func roundTripKeepsWhatAHistoryUses() throws {
        let outcomes: [(String?, UInt64?, Bool)] = [(nil, nil, false), ("ok", nil, false), ("EAGAIN", 0x3000, true), ("EIO", .max, true)]
        var ops: Set<String> = []
        for (index, event) in try events().enumerated() {
            let (expected, offset, diverged) = outcomes[index % outcomes.count]
            let form = EventForm.encode(event, expected: expected, expectedErrorOffset: offset, diverged: diverged)
            let decoded = try EventForm.decode(form)
            #expect(decoded.event == kept(event), "\(event.canonicalJSON)")
            #expect(decoded.expected == expected)
            #expect(decoded.expectedErrorOffset == offset.map { Int64(bitPattern: $0) })
            #expect(decoded.diverged == diverged)
            ops.insert(event.op.name)
        }
        #expect(ops.count == 20, "every op of the vocabulary is covered: \(ops.sorted())")
    }

    @Test func damagedFormsAreErrorsNotCrashes() throws {
        let form = EventForm.encode(
            Event(.bind(vm: "td1", gmem: "g1", slot: 1, gpa: 1 << 32, size: 1 << 30, offset: 0, hva: 0x7f00_0000_0000), ts: 1, result: "ok"),
            expected: "ok", expectedErrorOffset: nil, diverged: false)
        for end in 0..<form.count {
            #expect(throws: EventForm.DecodingError.self) { try EventForm.decode(Array(form[..<end])) }
        }
        #expect(throws: EventForm.DecodingError.self) { try EventForm.decode(form + [0]) }
        var layout = form
        layout[0] = 99
        #expect(throws: EventForm.DecodingError.self) { try EventForm.decode(layout) }
        var op = form
        op[1] = 200
        #expect(throws: EventForm.DecodingError.self) { try EventForm.decode(op) }
        // Random bytes and every single-byte change of a real form: decoded or refused,
        // never a trap (a damaged store is read by `history`).
        var random = SeededGenerator(seed: 31)
        for _ in 0..<20_000 {
            let length = Int(random.next() % 40)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if !bytes.isEmpty, random.next() % 2 == 0 { bytes[0] = 1 }
            _ = try? EventForm.decode(bytes)
        }
        for index in form.indices {
            for value in [0, 1, 0x7f, 0x80, 0xff] as [UInt8] {
                var changed = form
                changed[index] = value
                _ = try? EventForm.decode(changed)
            }
        }
    }
}
