import PropertyBased
import Testing
@testable import GmemStore

/// The engine's recent names (`RecentNames`): a VM or gmem name found there must give what the
/// dictionaries give, after every change of them — a re-created file or VM, a bugged or
/// destroyed VM, a memslot bound again.
@Suite struct RecentNamesTests {
    /// What breaks the agreement of the recent names with the dictionaries, or nil.
    static func staleEntry(_ state: GmemState) -> String? {
        for entry in state.recent.files where state.fileIndex[entry.name] != entry.index {
            return "file '\(entry.name)' kept at \(entry.index), the state says \(String(describing: state.fileIndex[entry.name]))"
        }
        for entry in state.recent.vms {
            guard let vm = state.vms[entry.name] else { return "vm '\(entry.name)' kept, gone from the state" }
            if entry.life != vm.life || entry.kernel != vm.kernel || entry.tdxConnect != vm.tdxConnect || entry.bindingsByAddress != vm.bindingsByAddress {
                return "vm '\(entry.name)' kept as \(entry.life) \(entry.kernel) with \(entry.bindingsByAddress.count) bindings, the state says \(vm.life) \(vm.kernel) with \(vm.bindingsByAddress.count)"
            }
        }
        return nil
    }

    /// A name the commit of a verdict on an event with a memory range should have left among
    /// the recent names and did not, or nil: the event's VM when the state holds it, and its
    /// first piece's file when it is the current file of its name. `commit` keeps them, unless
    /// the evaluation found them kept already (`Verdict.namesAreRecent`), so a wrong hint leaves
    /// a name out. (Other events may name what does not exist yet when `commit` keeps names:
    /// a `vm_create`'s VM is kept by the next event naming it.)
    static func unkeptName(_ state: GmemState, after verdict: Verdict) -> String? {
        if let vm = verdict.vm, state.vms[vm] != nil, state.recent.vmPosition(vm) == nil {
            return "vm '\(vm)' is not among the recent names"
        }
        if let file = verdict.pieces.first?.file {
            let name = state.files[file].name
            if state.fileIndex[name] == file, state.recent.filePosition(name) == nil {
                return "gmem '\(name)' (file \(file)) is not among the recent names"
            }
        }
        return nil
    }

    /// Applies `events`, and at every step judges the event with the recent names and with
    /// none (a copy of the engine whose recent names are emptied): the verdicts and the states
    /// after must be equal, no entry may disagree with the dictionaries, and the names the
    /// event used must be kept (`unkeptName`).
    static func firstDifference(_ events: [Event]) -> String? {
        var engine = Engine()
        for (step, event) in events.enumerated() {
            var cold = engine
            cold.state.recent = RecentNames()
            let verdict = engine.evaluate(event)
            let coldVerdict = cold.evaluate(event)
            if verdict != coldVerdict { return "step \(step) \(event.canonicalJSON): verdict \(verdict) with recent names, \(coldVerdict) without" }
            engine.commit(event, verdict)
            cold.commit(event, coldVerdict)
            if engine.state.files != cold.state.files || engine.state.frames != cold.state.frames || engine.state.vms != cold.state.vms {
                return "step \(step) \(event.canonicalJSON): the states differ"
            }
            if let stale = staleEntry(engine.state) { return "step \(step) \(event.canonicalJSON): \(stale)" }
            if event.op.range != nil, let unkept = unkeptName(engine.state, after: verdict) { return "step \(step) \(event.canonicalJSON): \(unkept)" }
        }
        return nil
    }

    @Test("a gmem name created again resolves to the new file, not the one the recent names held")
    func recreatedFile() {
        var engine = Engine()
        engine.apply(Event(.vmCreate(vm: "a", type: "tdx", tdxConnect: false)))
        engine.apply(Event(.gmemCreate(vm: "a", gmem: "g", size: 8 * 4096, flags: [], folioSize: 4096)))
        engine.apply(Event(.populate(.file(gmem: "g", offset: 0, size: 4096), pfn: 0x100)))
        #expect(engine.state.recent.filePosition("g") != nil)
        engine.apply(Event(.gmemClose(gmem: "g")))
        engine.apply(Event(.gmemCreate(vm: "a", gmem: "g", size: 8 * 4096, flags: [], folioSize: 4096)))
        let verdict = engine.apply(Event(.populate(.file(gmem: "g", offset: 4096, size: 4096), pfn: 0x200)))
        #expect(verdict.pieces.map(\.file) == [1] && verdict.unresolvedReason == nil && verdict.expected == "ok")
        #expect(Self.staleEntry(engine.state) == nil)
    }

    @Test("a VM bugged, then destroyed and created again under its name, is judged as it is now")
    func vmLifeAndRecreation() {
        var engine = Engine()
        engine.apply(Event(.vmCreate(vm: "a", type: "tdx", tdxConnect: false)))
        engine.apply(Event(.gmemCreate(vm: "a", gmem: "g", size: 8 * 4096, flags: [], folioSize: 4096)))
        engine.apply(Event(.bind(vm: "a", gmem: "g", slot: 1, gpa: 0x10_0000, size: 8 * 4096, offset: 0, hva: nil)))
        engine.apply(Event(.map(.guest(vm: "a", gpa: 0x10_0000, size: 4096))))
        #expect(engine.state.recent.vmPosition("a") != nil)
        engine.apply(Event(.vmBugged(vm: "a", reason: nil)))
        // A bugged VM refuses a map with EIO.
        #expect(engine.apply(Event(.map(.guest(vm: "a", gpa: 0x10_1000, size: 4096)))).expected == "EIO")
        engine.apply(Event(.vmDestroy(vm: "a")))
        engine.apply(Event(.vmCreate(vm: "a", type: "tdx", tdxConnect: true), kernel: .rfc2025))
        engine.apply(Event(.gmemCreate(vm: "a", gmem: "h", size: 8 * 4096, flags: [], folioSize: 4096)))
        engine.apply(Event(.bind(vm: "a", gmem: "h", slot: 1, gpa: 0x20_0000, size: 8 * 4096, offset: 0, hva: nil)))
        // The new VM: alive, its own profile, its own memslot, and TDX Connect (accept pins).
        let accept = engine.apply(Event(.accept(.guest(vm: "a", gpa: 0x20_0000, size: 4096))))
        #expect(accept.expected == "ok" && accept.kernel == .rfc2025 && accept.pieces.map(\.file) == [1])
        #expect(engine.state.files[1].pages[0]?.pins.td == 1)
        #expect(engine.apply(Event(.map(.guest(vm: "a", gpa: 0x10_0000, size: 4096)))).unresolvedReason != nil)
        #expect(Self.staleEntry(engine.state) == nil)
    }

    @Test("a memslot unbound and bound to another file moves the gpa range with it")
    func reboundSlot() {
        var engine = Engine()
        engine.apply(Event(.vmCreate(vm: "a", type: "tdx", tdxConnect: false)))
        engine.apply(Event(.gmemCreate(vm: "a", gmem: "g", size: 8 * 4096, flags: [], folioSize: 4096)))
        engine.apply(Event(.gmemCreate(vm: "a", gmem: "h", size: 8 * 4096, flags: [], folioSize: 4096)))
        engine.apply(Event(.bind(vm: "a", gmem: "g", slot: 1, gpa: 0x10_0000, size: 8 * 4096, offset: 0, hva: nil)))
        #expect(engine.apply(Event(.map(.guest(vm: "a", gpa: 0x10_0000, size: 4096)))).pieces.map(\.file) == [0])
        engine.apply(Event(.unbind(vm: "a", slot: 1)))
        engine.apply(Event(.bind(vm: "a", gmem: "h", slot: 1, gpa: 0x10_0000, size: 8 * 4096, offset: 0, hva: nil)))
        #expect(engine.apply(Event(.map(.guest(vm: "a", gpa: 0x10_0000, size: 4096)))).pieces.map(\.file) == [1])
        #expect(Self.staleEntry(engine.state) == nil)
    }

    @Test("more names than the recent names hold: every one still resolves")
    func manyNames() {
        var engine = Engine()
        var events: [Event] = []
        for index in 0..<(3 * RecentNames.capacity) {
            events.append(Event(.vmCreate(vm: "vm-\(index)", type: "tdx", tdxConnect: index % 2 == 0)))
            events.append(Event(.gmemCreate(vm: "vm-\(index)", gmem: "gmem-\(index)", size: 4 * 4096, flags: [], folioSize: 4096)))
            events.append(Event(.bind(vm: "vm-\(index)", gmem: "gmem-\(index)", slot: 1, gpa: 0x10_0000, size: 4 * 4096, offset: 0, hva: nil)))
        }
        for round in 0..<4 {
            for index in 0..<(3 * RecentNames.capacity) {
                events.append(Event(.map(.guest(vm: "vm-\(index)", gpa: 0x10_0000 + UInt64(round) * 4096, size: 4096))))
                events.append(Event(.pin(.file(gmem: "gmem-\(index)", offset: UInt64(round) * 4096, size: 4096), holder: .gup)))
            }
        }
        #expect(Self.firstDifference(events) == nil)
        for event in events { engine.apply(event) }
        for index in 0..<(3 * RecentNames.capacity) {
            let pages = engine.state.files[index].pages
            #expect((0..<4).map { pages[UInt64($0)]?.mapped } == [true, true, true, true])
            #expect((0..<4).map { pages[UInt64($0)]?.pins.gup } == [1, 1, 1, 1])
        }
    }

    @Test("judged with and without the recent names, every step of 200 random logs agrees", .shrinking(false), arguments: KernelProfile.allCases)
    func randomLogs(kernel: KernelProfile) async {
        await propertyCheck(count: 200, input: Gen.uint64().array(of: 200...260)) { numbers in
            if let problem = Self.firstDifference(EngineModelTests.prologue(kernel) + numbers.map(EngineModelTests.event)) {
                Issue.record("\(problem)")
            }
        }
    }
}
