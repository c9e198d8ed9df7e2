import Testing

@testable import GmemStore

/// `BatchedFold`, the auditor's fold that joins a release's `released` runs before they reach
/// the memory, leaves the memory `AuditMemory.Fold` leaves, transition for transition.
@Suite struct BatchedFoldTests {
    /// Misbehaving generated logs under both profiles: after every event, the memory folded with
    /// joined releases equals the memory folded one transition at a time, and joins happened.
    @Test(arguments: [KernelProfile.rfc2025, .upstream2026])
    func joinedReleasesLeaveTheSameMemory(kernel: KernelProfile) {
        let configuration = generatorConfiguration(events: 5_000, seed: 31, misbehaviour: 0.1, kernel: kernel)
        var engine = Engine()
        var plain = AuditMemory()
        var batched = AuditMemory()
        var released = 0
        for (index, event) in LogGenerator(configuration).enumerated() {
            let seq = Int64(index + 1)
            var log = TransitionLog()
            engine.apply(event, into: &log)
            var one = AuditMemory.Fold(memory: plain, seq: seq)
            var joined = BatchedFold(memory: batched, seq: seq)
            plain = AuditMemory()
            batched = AuditMemory()
            for transition in log.transitions {
                one.fold(transition)
                joined.fold(transition)
                if case .released = transition { released += 1 }
            }
            joined.finish()
            plain = one.memory
            batched = joined.fold.memory
            // The first difference is enough (a memory's description is long).
            guard batched == plain else {
                Issue.record("the memories differ after seq \(seq)")
                return
            }
        }
        #expect(released > 500)
    }

    /// Touching runs are joined only within one file and when the release leaves them the same
    /// facts: a gup release's runs of two files, and a run that keeps a gup pin, stay apart.
    @Test func releasesOfAnotherFileOrEffectAreNotJoined() {
        var memory = AuditMemory()
        var page = PageMemory()
        page.gupPin = 5
        page.tdPin = 6
        memory.files = [RangeMap(0..<8, page), RangeMap(0..<8, page)]
        var noGup = Pins()
        noGup.td = 1
        var oneGup = noGup
        oneGup.gup = 1
        var fold = BatchedFold(memory: memory, seq: 9)
        fold.fold(.released(FileSpan(file: 0, pages: 0..<2), holder: .gup, remaining: noGup))
        fold.fold(.released(FileSpan(file: 0, pages: 2..<4), holder: .gup, remaining: noGup))
        fold.fold(.released(FileSpan(file: 1, pages: 4..<6), holder: .gup, remaining: noGup))
        fold.fold(.released(FileSpan(file: 1, pages: 6..<8), holder: .gup, remaining: oneGup))
        fold.fold(.released(FileSpan(file: 1, pages: 0..<2), holder: .td, remaining: noGup))
        fold.finish()
        let result = fold.fold.memory
        #expect(result.files[0][0]?.gupPin == nil)
        #expect(result.files[0][3]?.gupPin == nil)
        #expect(result.files[0][4]?.gupPin == 5)
        #expect(result.files[1][4]?.gupPin == nil)
        #expect(result.files[1][5]?.gupPin == nil)
        #expect(result.files[1][6]?.gupPin == 5)
        #expect(result.files[1][0]?.tdRelease == 9)
        #expect(result.files[1][0]?.tdPin == 6)
        #expect(result.files[1][2]?.tdRelease == nil)
        #expect(result.files[0][0]?.tdRelease == nil)
    }

    @Test func sameEffectComparesWhatAReleaseReads() {
        var a = Pins()
        var b = Pins()
        a.iommu = 2
        b.vfio = 1
        #expect(BatchedFold.sameEffect(a, b))
        b.vfio = 0
        #expect(!BatchedFold.sameEffect(a, b))
        a = Pins()
        b = Pins()
        a.td = 1
        b.td = 3
        #expect(BatchedFold.sameEffect(a, b))
        b.td = 0
        #expect(!BatchedFold.sameEffect(a, b))
        a = Pins()
        b = Pins()
        b.gup = 1
        #expect(!BatchedFold.sameEffect(a, b))
    }
}
