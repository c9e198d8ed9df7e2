import Testing
@testable import GmemStore

/// The audit's per-event costs that its layout decides (docs/PERFORMANCE.md, "Audit"): the
/// auditor's page memory is stored packed, and the rules carry no stored values, so that the
/// auditor's walk over `[any Rule]` copies no boxed existential.
@Suite struct AuditLayoutTests {
    /// Each seq field reads back what was written, independently of the others, and two
    /// memories are equal exactly when their fields are, whatever was written and undone before.
    @Test func pageMemoryFieldsReadBackWhatWasWritten() {
        let fields: [WritableKeyPath<PageMemory, Int64?>] = [
            \.tdPin, \.dmaPin, \.gupPin, \.mapped, \.accepted, \.tdRelease, \.madePrivate, \.failure, \.quarantined, \.exit,
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var page = PageMemory()
            var expected = [Int64?](repeating: nil, count: fields.count)
            for _ in 0..<8 {
                let field = Int.random(in: 0..<fields.count, using: &generator)
                let value: Int64? = Bool.random(using: &generator) ? nil : Int64.random(in: 0...Int64.max, using: &generator)
                page[keyPath: fields[field]] = value
                expected[field] = value
            }
            page.failureCause = .hostPin
            #expect(fields.map { page[keyPath: $0] } == expected)
            #expect(page.failureCause == .hostPin)
            var rebuilt = PageMemory()
            for (field, value) in zip(fields, expected) { rebuilt[keyPath: field] = value }
            rebuilt.failureCause = .hostPin
            #expect(rebuilt == page)
            #expect(rebuilt.hashValue == page.hashValue)
        }
        var one = PageMemory()
        one.mapped = 0
        #expect(one != PageMemory())
        #expect(one.mapped == 0)
    }

    /// Ten seqs and a cause in 81 bytes: a run of the fold's range map half what ten optionals take.
    @Test func pageMemoryIsPacked() {
        #expect(MemoryLayout<PageMemory>.size <= 10 * 8 + 1)
    }

    /// Every rule of the catalog is an empty value: its id, name and texts are constants, so an
    /// `any Rule` holds it inline and the auditor's loop over the rules retains nothing.
    @Test func rulesCarryNoStoredValues() {
        func size<R: Rule>(_ rule: R) -> Int { MemoryLayout<R>.size }
        for rule in RuleCatalog.all {
            #expect(size(rule) == 0, "\(rule.id)")
        }
    }
}
