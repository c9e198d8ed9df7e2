import Testing
@testable import GmemStore

/// `Outcome`: the one comparison of result names (the engine, the audit memory, the frame index
/// and replay used three different ones), with the kernel's names as raw values.
@Suite struct OutcomeTypeTests {
    @Test("named outcomes carry the kernel's names")
    func namesAreTheKernels() {
        let named: [(Outcome, String)] = [
            (.ok, "ok"), (.EIO, "EIO"), (.EAGAIN, "EAGAIN"), (.EBUSY, "EBUSY"), (.EINVAL, "EINVAL"), (.EEXIST, "EEXIST"),
            (.ENODEV, "ENODEV"), (.SIGBUS, "SIGBUS"), (.TDX_PAGE_ALREADY_ACCEPTED, "TDX_PAGE_ALREADY_ACCEPTED"),
            (.TDX_OPERAND_INVALID, "TDX_OPERAND_INVALID"),
        ]
        for (outcome, name) in named {
            #expect(outcome.rawValue == name)
            #expect(outcome.description == name)
        }
        #expect(Set(named.map(\.0)).count == named.count)
    }

    @Test("names compare ignoring case, and equal names hash alike")
    func caseInsensitive() {
        let pairs: [(String, String, Bool)] = [
            ("ok", "OK", true), ("Ok", "ok", true), ("eio", "EIO", true), ("EIO", "EAGAIN", false), ("ok", "okay", false),
            ("", "", true), ("ok", "", false), ("ß", "SS", true), ("EFAULT", "efault", true),
        ]
        for (lhs, rhs, equal) in pairs {
            let a = Outcome(rawValue: lhs)
            let b = Outcome(rawValue: rhs)
            #expect((a == b) == equal, "\(lhs) vs \(rhs)")
            #expect((a == b) == lhs.sameResultName(as: rhs), "\(lhs) vs \(rhs)")
            if equal { #expect(a.hashValue == b.hashValue, "\(lhs) vs \(rhs)") }
        }
        #expect(Outcome(rawValue: "OK").isOK && !Outcome.EIO.isOK)
        #expect(Outcome(nil) == nil && Outcome("EIO") == .EIO)
    }

    @Test("the effective outcome is the observed one, else the expected one")
    func effectiveOutcome() {
        var engine = Engine()
        engine.apply(Event(.vmCreate(vm: "td", type: "tdx", tdxConnect: false)))
        let observed = Event(.vmBugged(vm: "td", reason: nil), result: "EFAULT")
        let verdict = engine.evaluate(observed)
        #expect(verdict.expectedOutcome == .ok && verdict.diverged)
        #expect(verdict.effectiveOutcome(of: observed) == "efault")
        let unobserved = Event(.vmBugged(vm: "td", reason: nil))
        #expect(engine.evaluate(unobserved).effectiveOutcome(of: unobserved) == .ok)
    }
}
