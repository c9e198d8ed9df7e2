import Foundation
import Testing
@testable import GmemStore

/// A map or zap record's event guessed on the reading thread (`TraceResolver.guessedEvent`,
/// `PrefetchedSource.Guessed`) is the event the resolver gives when the guess holds, and
/// differs from it when it does not, so the merge never stores a guessed body for another
/// event (`TraceIngestFastPathTests` holds whole ingests, read ahead and not, to the same rows).
@Suite struct TraceGuessTests {
    static let source = EventSource(file: "k.trace", line: 5)

    /// vm1 with g1 (64 pages) bound at gpa 0x100000000 (gfn 0x100000), and optionally vm2 alive.
    func state(secondVM: Bool) throws -> GmemState {
        let temporary = try TemporaryStore()
        var lines = MergeIngestTests.setup
        if secondVM { lines.append(#"{"op": "vm_create", "vm": "vm2", "type": "default", "ts": 1200000000}"#) }
        let path = try temporary.file("setup.jsonl", lines.joined(separator: "\n") + "\n")
        _ = try MergeIngest().ingest([(path, nil)], into: temporary.store)
        return try temporary.store.engine(at: Int64(lines.count)).state
    }

    @Test func aGuessThatHoldsIsTheResolvedEvent() throws {
        let state = try state(secondVM: false)
        for kind in [TraceRecord.Kind.map(gfn: 0x100003, pages: 1), .zap(gfn: 0x100000, pages: 2)] {
            let record = TraceRecord(tracepoint: "kvm_mmu_set_spte", ts: 7_000, kind: kind, source: Self.source)
            var resolver = TraceResolver()
            let events = resolver.events(for: record, in: state)
            #expect(events.count == 1)
            #expect(TraceResolver.guessedEvent(for: record, vm: "vm1") == events.first)
            #expect(TraceResolver.guestVM(of: events[0]) == "vm1")
            #expect(TraceResolver.guessedEvent(for: record, vm: "vm2") != events.first)
        }
    }

    @Test func aGuessThatDoesNotHoldIsNotTheResolvedEvent() throws {
        let bound = TraceRecord(tracepoint: "kvm_mmu_set_spte", ts: 7_000, kind: .map(gfn: 0x100003, pages: 1), source: Self.source)
        let unbound = TraceRecord(tracepoint: "kvm_mmu_set_spte", ts: 7_000, kind: .map(gfn: 0x200000, pages: 1), source: Self.source)
        // Two VMs alive: the event names `?`, with a note.
        var resolver = TraceResolver()
        let twoVMs = resolver.events(for: bound, in: try state(secondVM: true))
        #expect(twoVMs.count == 1 && TraceResolver.guessedEvent(for: bound, vm: "vm1") != twoVMs[0])
        // A gfn no binding covers: context.
        var other = TraceResolver()
        let context = other.events(for: unbound, in: try state(secondVM: false))
        #expect(context.count == 1 && TraceResolver.guessedEvent(for: unbound, vm: "vm1") != context[0])
        #expect(TraceResolver.guestVM(of: context[0]) == nil)
        // Records that are not a map or a zap have no guess; nor a range past the address space.
        let hva = TraceRecord(tracepoint: "kvm_unmap_hva_range", ts: 1, kind: .unmapHVA(start: 0, end: 4096), source: Self.source)
        #expect(TraceResolver.guessedEvent(for: hva, vm: "vm1") == nil)
        let huge = TraceRecord(tracepoint: "kvm_mmu_set_spte", ts: 1, kind: .map(gfn: 1 << 52, pages: 1), source: Self.source)
        #expect(TraceResolver.guessedEvent(for: huge, vm: "vm1") == nil)
    }
}
