import Testing

@testable import GmemStore

/// The audit memory's count of pages with a standing failure per file, which lets GM-R03 skip
/// the memory of files that have none (`AuditMemory.mayHaveStandingFailure`).
@Suite struct StandingFailureTests {
    /// Misbehaving generated logs under both profiles: after every event the kept counts equal
    /// the counts taken from the memory's runs, and some failures stood.
    @Test(arguments: [KernelProfile.rfc2025, .upstream2026])
    func keptCountsFollowTheRuns(kernel: KernelProfile) {
        var configuration = LogGenerator.Configuration()
        configuration.events = 8_000
        configuration.seed = 5
        configuration.misbehaviour = 0.2
        configuration.kernel = kernel
        var auditor = Auditor()
        var stood = 0
        for (index, event) in LogGenerator(configuration).enumerated() {
            _ = auditor.audit(event, seq: Int64(index + 1))
            let counted = auditor.memory.countedStandingFailures()
            // The first difference is enough.
            guard auditor.memory.keptStandingFailures == counted else {
                Issue.record("seq \(index + 1) \(event.canonicalJSON): kept \(String(describing: auditor.memory.keptStandingFailures)), counted \(counted)")
                return
            }
            if counted.contains(where: { $0 > 0 }) { stood += 1 }
        }
        #expect(stood > 100)
    }

    /// A memory whose files were set from outside the fold answers "may have" until a fold
    /// counts again; then the fold keeps the count through failures set and cleared.
    @Test func aMemoryChangedFromOutsideIsCountedAgain() {
        var memory = AuditMemory()
        var page = PageMemory()
        page.failure = 3
        page.failureCause = .tdPin
        memory.files = [RangeMap(0..<4, page), RangeMap(0..<4, PageMemory())]
        #expect(memory.keptStandingFailures == nil)
        #expect(memory.mayHaveStandingFailure(file: 1))
        memory.fold(.mapped(Piece(file: 0, pages: 0..<1, address: 0)), seq: 5)
        #expect(memory.keptStandingFailures == [4, 0])
        #expect(!memory.mayHaveStandingFailure(file: 1))
        memory.fold(.zapped(Piece(file: 0, pages: 1..<3, address: 0), endsQuarantine: false), seq: 6)
        #expect(memory.keptStandingFailures == [2, 0])
        memory.fold(.failed(FileSpan(file: 1, pages: 2..<4), cause: .hostPin), seq: 7)
        #expect(memory.keptStandingFailures == [2, 2])
        memory.fold(.released(FileSpan(file: 1, pages: 0..<3), holder: .gup, remaining: Pins()), seq: 8)
        #expect(memory.keptStandingFailures == [2, 1])
        memory.fold(.converted(Piece(file: 0, pages: 0..<4, address: 0), to: .shared, endsQuarantine: false), seq: 9)
        #expect(memory.keptStandingFailures == [0, 1])
        #expect(!memory.mayHaveStandingFailure(file: 0))
        #expect(memory.keptStandingFailures == memory.countedStandingFailures())
    }
}
