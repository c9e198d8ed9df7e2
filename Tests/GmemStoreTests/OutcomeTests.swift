import Testing
@testable import GmemStore

/// The expected outcomes of EVENTS.md §4, one by one, from small hand-made logs.
@Suite struct OutcomeTests {
    /// A TDX Connect TD `td` with a 16-page gmem `g` bound at gpa 0x100000, pages 0–3 populated
    /// from pfn 0x5000, mapped and accepted (so `td`-pinned).
    static func pinnedTD(tdxConnect: Bool = true, flags: [String] = ["mmap"], kernel: KernelProfile = .rfc2025) -> Engine {
        var engine = Engine()
        for event in [
            Event(.vmCreate(vm: "td", type: "tdx", tdxConnect: tdxConnect), kernel: kernel),
            Event(.gmemCreate(vm: "td", gmem: "g", size: 16 * 4096, flags: flags, folioSize: 4096)),
            Event(.bind(vm: "td", gmem: "g", slot: 1, gpa: 0x10_0000, size: 16 * 4096, offset: 0, hva: nil)),
            Event(.populate(.file(gmem: "g", offset: 0, size: 4 * 4096), pfn: 0x5000)),
            Event(.map(.file(gmem: "g", offset: 0, size: 4 * 4096))),
            Event(.accept(.guest(vm: "td", gpa: 0x10_0000, size: 4 * 4096))),
        ] {
            let verdict = engine.apply(event)
            #expect(verdict.expected == "ok", "setup \(event.op.name)")
        }
        return engine
    }

    static func page(_ engine: Engine, _ page: UInt64) -> PageState {
        engine.state.file("g")!.pages[page]!
    }

    @Test("convert to private with an iommu, vfio or gup pin: EAGAIN at the first pinned page, nothing changes", arguments: [Holder.iommu, .vfio, .gup])
    func convertToPrivateWithHostPin(holder: Holder) {
        var engine = Self.pinnedTD(flags: ["mmap", "init_shared"])
        engine.apply(Event(.pin(.file(gmem: "g", offset: 6 * 4096, size: 2 * 4096), holder: holder)))
        let before = engine.state
        let verdict = engine.apply(Event(.convert(.file(gmem: "g", offset: 4 * 4096, size: 8 * 4096), to: .private)))
        #expect(verdict.expected == "EAGAIN")
        #expect(verdict.expectedErrorOffset == 6 * 4096)
        #expect(engine.state == before)
        engine.apply(Event(.release(.file(gmem: "g", offset: 6 * 4096, size: 2 * 4096), holder: holder)))
        let retry = engine.apply(Event(.convert(.file(gmem: "g", offset: 4 * 4096, size: 8 * 4096), to: .private)))
        #expect(retry.expected == "ok")
        #expect(Self.page(engine, 6).shareability == .private)
    }

    @Test("convert to private by gpa reports the error offset as a gpa")
    func convertToPrivateErrorOffsetByGPA() {
        var engine = Self.pinnedTD(flags: ["mmap", "init_shared"])
        engine.apply(Event(.pin(.file(gmem: "g", offset: 9 * 4096, size: 4096), holder: .iommu)))
        let verdict = engine.evaluate(Event(.convert(.guest(vm: "td", gpa: 0x10_0000 + 8 * 4096, size: 4 * 4096), to: .private)))
        #expect(verdict.expected == "EAGAIN")
        #expect(verdict.expectedErrorOffset == 0x10_0000 + 9 * 4096)
    }

    @Test("convert to shared of a mapped td-pinned page: EIO, VM bugged, pinned pages quarantined, nothing converts")
    func convertToSharedTDPinned() {
        var engine = Self.pinnedTD()
        let verdict = engine.apply(Event(.convert(.file(gmem: "g", offset: 2 * 4096, size: 4 * 4096), to: .shared)))
        #expect(verdict.expected == "EIO")
        #expect(verdict.blocked.map(\.pages) == [2..<4])
        #expect(engine.state.vms["td"]?.life == .bugged)
        #expect(Self.page(engine, 2).quarantined && Self.page(engine, 3).quarantined)
        #expect(Self.page(engine, 2).mapped)
        #expect(!Self.page(engine, 4).quarantined)
        #expect(Self.page(engine, 4).shareability == .private)
    }

    @Test("convert to shared after the TD released: ok, pages shared, unmapped, request cleared")
    func convertToSharedReleased() {
        var engine = Self.pinnedTD()
        engine.apply(Event(.release(.guest(vm: "td", gpa: 0x10_0000, size: 4 * 4096), holder: .td)))
        engine.apply(Event(.convertRequest(vm: "td", gpa: 0x10_0000, size: 4 * 4096, to: .shared, implicit: false)))
        #expect(Self.page(engine, 0).requested == .shared)
        let verdict = engine.apply(Event(.convert(.file(gmem: "g", offset: 0, size: 4 * 4096), to: .shared)))
        #expect(verdict.expected == "ok")
        let page = Self.page(engine, 0)
        #expect(page.shareability == .shared && !page.mapped && !page.accepted && page.requested == .none && page.pins.isEmpty)
    }

    @Test("zap, punch_hole and unbind fail on a mapped td-pinned page and succeed without one")
    func zapRule() {
        for op in [
            Operation.zap(.file(gmem: "g", offset: 0, size: 4096), reason: "host"),
            .punchHole(.file(gmem: "g", offset: 0, size: 4096)),
            .unbind(vm: "td", slot: 1),
        ] {
            var engine = Self.pinnedTD()
            let failed = engine.apply(Event(op))
            #expect(failed.expected == "EIO", "\(op.name)")
            #expect(engine.state.vms["td"]?.life == .bugged, "\(op.name)")
            #expect(Self.page(engine, 0).quarantined && Self.page(engine, 0).mapped && Self.page(engine, 0).populated, "\(op.name)")

            var plain = Self.pinnedTD(tdxConnect: false)
            let succeeded = plain.apply(Event(op))
            #expect(succeeded.expected == "ok", "\(op.name)")
            #expect(!Self.page(plain, 0).mapped && !Self.page(plain, 0).accepted, "\(op.name)")
        }
    }

    @Test("punch_hole frees the folios and keeps shareability; a later successful zap clears quarantine")
    func punchHoleAndQuarantine() {
        var engine = Self.pinnedTD(tdxConnect: false)
        engine.apply(Event(.punchHole(.file(gmem: "g", offset: 0, size: 2 * 4096))))
        #expect(!Self.page(engine, 0).populated && Self.page(engine, 0).shareability == .private)
        #expect(Self.page(engine, 2).populated)
        #expect(engine.state.frames[0x5000] == nil && engine.state.frames[0x5002] != nil)

        var pinned = Self.pinnedTD()
        pinned.apply(Event(.zap(.file(gmem: "g", offset: 0, size: 4096), reason: "host")))
        #expect(Self.page(pinned, 0).quarantined)
        pinned.apply(Event(.release(.file(gmem: "g", offset: 0, size: 4096), holder: .td), result: "ok"))
        let zap = pinned.apply(Event(.zap(.file(gmem: "g", offset: 0, size: 4096), reason: "teardown")))
        #expect(zap.expected == "ok")
        #expect(!Self.page(pinned, 0).quarantined)
    }

    @Test("host_access: ENODEV without mmap, SIGBUS on a private page, ok on shared pages")
    func hostAccess() {
        var noMmap = Self.pinnedTD(flags: [])
        #expect(noMmap.apply(Event(.hostAccess(.file(gmem: "g", offset: 0, size: 4096)))).expected == "ENODEV")
        var priv = Self.pinnedTD(flags: ["mmap"])
        #expect(priv.apply(Event(.hostAccess(.file(gmem: "g", offset: 0, size: 4096)))).expected == "SIGBUS")
        var shared = Self.pinnedTD(flags: ["mmap", "init_shared"])
        #expect(shared.apply(Event(.hostAccess(.file(gmem: "g", offset: 8 * 4096, size: 4096)))).expected == "ok")
    }

    @Test("accept twice, release td without a pin, release a host holder without a pin")
    func acceptReleaseImbalance() {
        var engine = Self.pinnedTD()
        #expect(engine.apply(Event(.accept(.file(gmem: "g", offset: 0, size: 4096)))).expected == "TDX_PAGE_ALREADY_ACCEPTED")
        #expect(engine.apply(Event(.release(.file(gmem: "g", offset: 8 * 4096, size: 4096), holder: .td))).expected == "TDX_OPERAND_INVALID")
        #expect(engine.apply(Event(.release(.file(gmem: "g", offset: 0, size: 4096), holder: .iommu))).expected == "EINVAL")
        #expect(engine.apply(Event(.release(.file(gmem: "g", offset: 0, size: 4096), holder: .td))).expected == "ok")
        #expect(!Self.page(engine, 0).accepted && Self.page(engine, 0).pins.td == 0)
    }

    @Test("ops on a bugged VM expect EIO, except gmem file ops, host releases, teardown zaps and destroy")
    func deadVM() {
        var engine = Self.pinnedTD(flags: ["mmap", "init_shared"])
        engine.apply(Event(.pin(.file(gmem: "g", offset: 8 * 4096, size: 4096), holder: .vfio)))
        engine.apply(Event(.vmBugged(vm: "td", reason: "test")))
        let file = MemoryRange.file(gmem: "g", offset: 8 * 4096, size: 4096)
        for op in [Operation.map(file), .accept(file), .pin(file, holder: .td), .convert(file, to: .private),
                   .convertRequest(vm: "td", gpa: 0x10_0000, size: 4096, to: .shared, implicit: false),
                   .zap(file, reason: "host"), .bind(vm: "td", gmem: "g", slot: 2, gpa: 0x20_0000, size: 4096, offset: 15 * 4096, hva: nil)] {
            #expect(engine.evaluate(Event(op)).expected == "EIO", "\(op.name)")
        }
        for op in [Operation.punchHole(.file(gmem: "g", offset: 12 * 4096, size: 4096)), .populate(file, pfn: nil), .hostAccess(file),
                   .release(file, holder: .vfio), .zap(file, reason: "teardown"), .vmDestroy(vm: "td")] {
            #expect(engine.evaluate(Event(op)).expected == "ok", "\(op.name)")
        }
    }

    @Test("the observed result decides the state; a difference is a divergence")
    func observedResultDecides() {
        var engine = Self.pinnedTD(flags: ["mmap", "init_shared"])
        engine.apply(Event(.pin(.file(gmem: "g", offset: 8 * 4096, size: 4096), holder: .gup)))
        // The model expects EAGAIN; the log says the kernel converted.
        let verdict = engine.apply(Event(.convert(.file(gmem: "g", offset: 8 * 4096, size: 4096), to: .private), result: "ok"))
        #expect(verdict.expected == "EAGAIN" && verdict.diverged)
        #expect(Self.page(engine, 8).shareability == .private)
        // The model expects ok; the log says EAGAIN at another offset: diverged, nothing changes.
        let before = engine.state
        let other = engine.apply(Event(.convert(.file(gmem: "g", offset: 9 * 4096, size: 4096), to: .private), result: "EAGAIN", errorOffset: 9 * 4096))
        #expect(other.expected == "ok" && other.diverged)
        #expect(engine.state == before)
        // Same outcome, wrong error offset: diverged.
        engine.apply(Event(.pin(.file(gmem: "g", offset: 10 * 4096, size: 4096), holder: .iommu)))
        let offset = engine.apply(Event(.convert(.file(gmem: "g", offset: 10 * 4096, size: 2 * 4096), to: .private), result: "EAGAIN", errorOffset: 11 * 4096))
        #expect(offset.expected == "EAGAIN" && offset.expectedErrorOffset == 10 * 4096 && offset.diverged)
        // Agreement is not a divergence.
        let agreed = engine.apply(Event(.map(.file(gmem: "g", offset: 0, size: 4096)), result: "OK"))
        #expect(!agreed.diverged)
    }

    @Test("an unresolvable range is kept with no expectation and no state change")
    func unresolved() {
        var engine = Self.pinnedTD()
        let before = engine.state
        for event in [
            Event(.map(.file(gmem: "nope", offset: 0, size: 4096))),
            Event(.map(.file(gmem: "g", offset: 15 * 4096, size: 2 * 4096))),
            Event(.map(.guest(vm: "td", gpa: 0x90_0000, size: 4096))),
        ] {
            let verdict = engine.apply(event)
            #expect(verdict.expected == nil && verdict.unresolvedReason != nil && verdict.pieces.isEmpty)
        }
        #expect(engine.state == before)
        let partial = engine.apply(Event(.map(.guest(vm: "td", gpa: 0x10_0000 + 15 * 4096, size: 2 * 4096))))
        #expect(partial.expected == "ok" && partial.pieces.map(\.pages) == [15..<16] && partial.unresolved == [0x11_0000..<0x11_1000])
    }

    @Test("a 1 GiB folio conversion of a 1 TiB file is one range operation")
    func largeConversionIsOneRun() {
        var engine = Engine()
        engine.apply(Event(.vmCreate(vm: "big", type: "tdx", tdxConnect: false), kernel: .rfc2025))
        engine.apply(Event(.gmemCreate(vm: "big", gmem: "g", size: 1 << 40, flags: [], folioSize: 1 << 30)))
        engine.apply(Event(.convert(.file(gmem: "g", offset: 5 << 30, size: 1 << 30), to: .shared)))
        engine.apply(Event(.convert(.file(gmem: "g", offset: (5 << 30) + (2 << 20), size: 4096), to: .private)))
        #expect(engine.state.file("g")!.pages.runCount == 5)
        engine.apply(Event(.convert(.file(gmem: "g", offset: (5 << 30) + (2 << 20), size: 4096), to: .shared)))
        engine.apply(Event(.convert(.file(gmem: "g", offset: 5 << 30, size: 1 << 30), to: .private)))
        #expect(engine.state.file("g")!.pages.runCount == 1)
    }
}
