import PropertyBased
import Testing
@testable import GmemStore

/// The range engine against the page-by-page reference model, on random logs.
@Suite struct EngineModelTests {
    static let vmNames = ["a", "b", "zz"]
    static let gmemNames = ["g1", "g2", "g3", "nope"]

    /// The fixed start of every random log: two VMs (one TDX Connect) judged by `kernel`, three
    /// gmem files, four memslots with a hole between two of them.
    static func prologue(_ kernel: KernelProfile) -> [Event] {
        [
        Event(.vmCreate(vm: "a", type: "tdx", tdxConnect: true), kernel: kernel),
        Event(.vmCreate(vm: "b", type: "snp", tdxConnect: false), kernel: kernel),
        Event(.gmemCreate(vm: "a", gmem: "g1", size: 32 * 4096, flags: ["mmap"], folioSize: 4096)),
        Event(.gmemCreate(vm: "a", gmem: "g2", size: 16 * 4096, flags: ["mmap", "init_shared"], folioSize: 4096)),
        Event(.gmemCreate(vm: "b", gmem: "g3", size: 16 * 4096, flags: [], folioSize: 4096)),
        Event(.bind(vm: "a", gmem: "g1", slot: 1, gpa: 0x10_0000, size: 16 * 4096, offset: 0, hva: 0x7000_0000)),
        Event(.bind(vm: "a", gmem: "g1", slot: 2, gpa: 0x11_0000, size: 16 * 4096, offset: 16 * 4096, hva: nil)),
        Event(.bind(vm: "a", gmem: "g2", slot: 3, gpa: 0x12_0000 + 4 * 4096, size: 16 * 4096, offset: 0, hva: nil)),
        Event(.bind(vm: "b", gmem: "g3", slot: 1, gpa: 0x10_0000, size: 16 * 4096, offset: 0, hva: nil)),
        ]
    }

    /// Decodes one random number into an event over the prologue's universe: every op, both
    /// addressings, overlapping and out-of-range ranges, observed results that agree or not.
    static func event(_ bits: UInt64) -> Event {
        func field(_ shift: UInt64, _ width: UInt64) -> UInt64 { (bits >> shift) & ((1 << width) - 1) }
        // Mostly the VMs and files that exist, now and then the unknown ones.
        let vm = ["a", "a", "a", "b", "b", "zz", "a", "b"][Int(field(5, 3))]
        let gmem = ["g1", "g1", "g2", "g3", "g1", "g2", "g3", "nope"][Int(field(8, 3))]
        // Half the ranges start within every file, the others anywhere up to past the ends.
        let page = field(11, 6) % (field(47, 1) == 0 ? 14 : 40)
        let npages = field(17, 2) == 3 ? field(19, 5) + 1 : field(19, 2) + 1
        let size = npages * 4096
        let range: MemoryRange = field(24, 1) == 0
            ? .file(gmem: gmem, offset: page * 4096, size: size)
            : .guest(vm: vm, gpa: 0x10_0000 + page * 4096 + (field(25, 2) == 3 ? 0x10000 : 0), size: size)
        let holder = Holder.allCases[Int(field(27, 2))]
        let to: Shareability = field(29, 1) == 0 ? .shared : .private
        let pfn = 0x1000 + field(30, 6)
        let op: Operation
        switch field(0, 5) {
        case 0: op = .populate(range, pfn: field(36, 1) == 0 ? pfn : nil)
        case 1, 2: op = .map(range)
        case 3: op = .zap(range, reason: field(36, 1) == 0 ? "host" : "teardown")
        case 4: op = .punchHole(range)
        case 5, 6: op = .convert(range, to: to)
        case 7: op = .convertRequest(vm: vm, gpa: 0x10_0000 + page * 4096, size: size, to: to, implicit: false)
        case 8, 9: op = .accept(range)
        case 10, 11: op = .pin(range, holder: holder)
        case 12, 13: op = .release(range, holder: holder)
        case 14: op = .hostAccess(range)
        case 15: op = .unbind(vm: vm, slot: field(36, 2) + 1)
        case 16: op = .bind(vm: vm, gmem: gmem, slot: field(36, 2) + 1, gpa: 0x10_0000 + page * 4096, size: size, offset: page * 4096, hva: nil)
        case 17:
            // VMs die now and then, not within a few events.
            switch field(36, 3) {
            case 0: op = .vmDestroy(vm: vm)
            case 1: op = .vmBugged(vm: vm, reason: nil)
            default: op = .map(range)
            }
        case 18: op = field(36, 2) == 0 ? .gmemClose(gmem: gmem) : .gmemCreate(vm: vm, gmem: gmem, size: 16 * 4096, flags: field(38, 1) == 0 ? [] : ["mmap", "init_shared"], folioSize: 4096)
        case 19: op = field(36, 2) == 0 ? .vmCreate(vm: vm, type: "tdx", tdxConnect: field(38, 1) == 0) : .reuse(pfn: pfn, npages: npages, owner: nil)
        case 20:
            if field(36, 1) == 0 {
                op = .mce(pfn: pfn)
            } else {
                op = field(37, 2) == 0 ? .gap(source: "ftrace cpu 1", lost: field(39, 1) == 0 ? npages : nil) : .context(tracepoint: "kvm_page_fault")
            }
        default:
            // The rest leans on what the kernel profiles judge differently: removals of TD-held
            // pages, punched and reused frames, files closed over quarantined pages.
            switch field(36, 3) {
            case 0, 1: op = .map(range)
            case 2: op = .accept(range)
            case 3: op = .reuse(pfn: pfn, npages: npages, owner: nil)
            case 4: op = .punchHole(range)
            case 5: op = .convert(range, to: to)
            case 6: op = .zap(range, reason: "host")
            default: op = field(38, 2) == 0 ? .gmemClose(gmem: gmem) : .accept(range)
            }
        }
        let result: String?
        switch field(40, 4) {
        case 12: result = "ok"
        case 13: result = "EIO"
        case 14: result = "EAGAIN"
        case 15: result = "EINVAL"
        default: result = nil
        }
        // A re-created VM may name either profile, or none (the standard one); a conversion
        // may go through the VM ioctl.
        let kernels: [KernelProfile?] = [nil, .rfc2025, .upstream2026, nil]
        return Event(op, result: result, kernel: kernels[Int(field(44, 2))], via: field(46, 2) == 0 ? .vm : nil)
    }

    /// The first difference between the engine's state and the model's, or nil when they agree
    /// page by page (and the engine's runs are canonical: contiguous, equal neighbours merged).
    static func difference(_ engine: Engine, _ model: ReferenceModel) -> String? {
        let state = engine.state
        guard state.files.count == model.files.count else { return "engine has \(state.files.count) files, model \(model.files.count)" }
        for (file, reference) in zip(state.files, model.files) {
            if file.isOpen != reference.open { return "open flag of \(file.name)" }
            if file.untrustedSince != reference.untrustedSince { return "untrusted mark of \(file.name)" }
            var pages: [ReferenceModel.Page?] = Array(repeating: nil, count: reference.pages.count)
            var previous: PageState?
            var cursor: UInt64 = 0
            for run in file.pages.runs {
                if run.lower != cursor && file.isOpen { return "runs of \(file.name) leave a gap at page \(cursor)" }
                if previous == run.value && run.lower == cursor { return "equal neighbours not merged in \(file.name) at page \(run.lower)" }
                previous = run.value
                cursor = run.upper
                for page in run.range {
                    guard page < UInt64(pages.count) else { return "\(file.name) has a run past its end" }
                    var pins: [Holder: UInt32] = [:]
                    for (holder, count) in run.value.pins.held { pins[holder] = count }
                    pages[Int(page)] = (ReferenceModel.Page(
                        shareability: run.value.shareability, populated: run.value.populated, pfn: run.value.pfn(ofPage: page),
                        mapped: run.value.mapped, accepted: run.value.accepted, pins: pins,
                        requested: run.value.requested, quarantined: run.value.quarantined))
                }
            }
            for (number, page) in reference.pages.enumerated() {
                var expected: ReferenceModel.Page? = page
                expected!.pins = page.pins.filter { $0.value > 0 }
                if !page.populated { expected!.pfn = nil }
                if reference.dropped.contains(number) { expected = nil }
                if pages[number] != expected { return "\(file.name) page \(number): engine \(String(describing: pages[number])), model \(String(describing: expected))" }
            }
        }
        for (name, vm) in model.vms {
            if state.vms[name]?.life != vm.life { return "life of vm \(name): engine \(String(describing: state.vms[name]?.life)), model \(vm.life)" }
            if state.vms[name]?.bindings != vm.bindings { return "bindings of vm \(name)" }
            if state.vms[name]?.kernel != vm.kernel { return "kernel of vm \(name)" }
            if state.vms[name]?.untrustedSince != vm.untrustedSince { return "untrusted mark of vm \(name)" }
        }
        var frames: [UInt64: ReferenceModel.Placed] = [:]
        for run in state.frames.runs {
            for pfn in run.range {
                frames[pfn] = ReferenceModel.Placed(file: run.value.file, page: Int(Int64(bitPattern: pfn) &+ run.value.pageDelta), address: 0)
            }
        }
        if frames != model.frames { return "frames: engine \(frames), model \(model.frames)" }
        var reused: [UInt64: String] = [:]
        for run in state.reusedFrames.runs { for pfn in run.range { reused[pfn] = run.value } }
        if reused != model.reused { return "reused frames" }
        return nil
    }

    /// The auditor's findings of one event in the model's terms: rule, severity, the pages of
    /// its file ranges, and for GM-R13 its unplaced ranges merged.
    static func found(_ findings: [Finding]) -> [ReferenceModel.Found] {
        findings.map { finding in
            if finding.rule == "GM-R13" {
                var ranges: [String] = []
                var last: (String, UInt64, UInt64)?
                for range in finding.ranges {
                    let key = range.gmem ?? "vm " + (range.vm ?? "?")
                    if let current = last, current.0 == key, current.2 == range.offset {
                        last = (key, current.1, range.offset + range.size)
                    } else {
                        if let current = last { ranges.append("\(current.0) \(current.1)-\(current.2)") }
                        last = (key, range.offset, range.offset + range.size)
                    }
                }
                if let current = last { ranges.append("\(current.0) \(current.1)-\(current.2)") }
                return ReferenceModel.Found(rule: finding.rule, severity: finding.severity, pages: [], unplaced: ranges)
            }
            var pages: Set<String> = []
            for range in finding.ranges {
                for page in (range.offset / 4096)..<((range.offset + range.size) / 4096) { pages.insert("\(range.gmem ?? "?")@\(page)") }
            }
            return ReferenceModel.Found(rule: finding.rule, severity: finding.severity, pages: pages, unplaced: [])
        }
    }

    /// Replays `events` through the auditor (engine and rules) and the model side by side; the
    /// first disagreement in verdict, findings or state, or nil.
    static func firstDisagreement(_ events: [Event], override: KernelProfile? = nil) -> String? {
        var auditor = Auditor(engine: Engine(kernelOverride: override))
        var model = ReferenceModel(override: override)
        for (step, event) in events.enumerated() {
            let seq = Int64(step + 1)
            let verdict = auditor.engine.evaluate(event)
            let findings = found(auditor.audit(event, seq: seq))
            let expected = model.apply(event, seq: seq)
            var problem: String?
            if verdict.expected != expected.expected || verdict.expectedErrorOffset != expected.errorOffset {
                problem = "verdict: engine \(verdict.expected ?? "none")@\(String(describing: verdict.expectedErrorOffset)), model \(expected.expected ?? "none")@\(String(describing: expected.errorOffset))"
            } else if findings != expected.findings {
                problem = "findings: auditor \(findings), model \(expected.findings)"
            } else {
                problem = difference(auditor.engine, model)
            }
            if let problem { return "step \(step) \(event.canonicalJSON): \(problem)" }
        }
        return nil
    }

    @Test(
        "engine and auditor agree with the page-by-page model, state and findings of every rule, on every prefix of 200 random logs",
        .shrinking(false), arguments: KernelProfile.allCases)
    func engineAndAuditorMatchReferenceModel(kernel: KernelProfile) async {
        await propertyCheck(count: 200, input: Gen.uint64().array(of: 200...260)) { numbers in
            let events = Self.prologue(kernel) + numbers.map(Self.event)
            if let problem = Self.firstDisagreement(events) { Issue.record("\(problem)") }
        }
    }

    @Test("a what-if judgement (every VM as one profile) agrees with the model too", .shrinking(false), arguments: KernelProfile.allCases)
    func whatIfMatchesReferenceModel(kernel: KernelProfile) async {
        await propertyCheck(count: 25, input: Gen.uint64().array(of: 200...260)) { numbers in
            let other: KernelProfile = kernel == .rfc2025 ? .upstream2026 : .rfc2025
            let events = Self.prologue(other) + numbers.map(Self.event)
            if let problem = Self.firstDisagreement(events, override: kernel) { Issue.record("\(problem)") }
        }
    }

    @Test("the snapshot form holds the whole state, profiles included", .shrinking(false))
    func snapshotHoldsState() async {
        await propertyCheck(count: 30, input: Gen.uint64().array(of: 200...260)) { numbers in
            for kernel in KernelProfile.allCases {
                var engine = Engine()
                for (seq, event) in (Self.prologue(kernel) + numbers.map(Self.event)).enumerated() { engine.apply(event, seq: Int64(seq + 1)) }
                #expect((try? StateCodec.decode(StateCodec.encode(engine.state))) == engine.state)
            }
        }
    }
}

