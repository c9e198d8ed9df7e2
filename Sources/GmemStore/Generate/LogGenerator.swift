/// SplitMix64: a small deterministic random number generator, so that a seed number gives
/// the same log on every machine and every Swift version.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Makes realistic guest_memfd logs of any length, the same for the same seed: several VMs
/// (half of them TDX Connect TDs), each with a gmem file bound through a memslot; pages
/// populated, mapped and accepted; TDs that release before asking for a conversion; IOMMU pins
/// that come and go; conversions of 4 KiB, 2 MiB and 1 GiB pieces; punch holes and zaps; VMs
/// torn down and replaced. A small share of misbehaviour (a TD that does not release, a host
/// that zaps private pages nobody asked about, retries, a log that disagrees with the model)
/// makes the audit rules fire.
///
/// The generator runs an `Engine` as it goes, so each event is judged against the state it
/// creates; every event carries the outcome the model expects as its observed `result`,
/// except the deliberate divergences.
public struct LogGenerator: Sequence, IteratorProtocol {
    /// What to generate.
    public struct Configuration: Sendable {
        public var seed: UInt64 = 1
        /// How many events.
        public var events: Int = 100_000
        /// How many VMs are alive at once.
        public var vms: Int = 4
        /// The size of each VM's gmem file, in bytes (a multiple of 2 MiB).
        public var gmemSize: UInt64 = 4 << 30
        /// The share of steps that misbehave (0…1).
        public var misbehaviour: Double = 0.02
        /// Give every event a producer `id`.
        public var ids = false
        /// The kernel profile named in each `vm_create`; nil names none.
        public var kernel: KernelProfile?
        /// Nanoseconds of the first event.
        public var start: Int64 = 1_752_796_800_000_000_000  // 2025-07-18T00:00:00Z

        public init() {}
    }

    public let configuration: Configuration
    private var random: SeededGenerator
    private var engine = Engine()
    private var pending: [Event] = []
    private var produced = 0
    private var clock: Int64
    private var generation = 0
    private var slots: [Slot] = []
    private var nextFrame: UInt64 = 0x10_0000

    /// One VM of the generator and its gmem file.
    private struct Slot {
        var vm: String
        var gmem: String
        var tdxConnect: Bool
        var gpa: UInt64
        var events = 0
    }

    public init(_ configuration: Configuration) {
        self.configuration = configuration
        random = SeededGenerator(seed: configuration.seed)
        clock = configuration.start
    }

    public mutating func next() -> Event? {
        if produced >= configuration.events { return nil }
        while pending.isEmpty { step() }
        produced += 1
        var event = pending.removeFirst()
        clock += Int64(random.next() % 50_000) + 1_000
        event.ts = clock
        if configuration.ids { event.id = "gen-\(configuration.seed)-\(produced)" }
        let verdict = engine.evaluate(event)
        if event.result == nil { event.result = verdict.expected }
        engine.commit(event, verdict)
        return event
    }

    /// The engine state after the events produced so far.
    public var state: GmemState { engine.state }

    private mutating func chance(_ probability: Double) -> Bool {
        Double(random.next() % 1_000_000) < probability * 1_000_000
    }

    private mutating func pick(_ count: Int) -> Int { Int(random.next() % UInt64(count)) }

    // MARK: Steps

    private mutating func step() {
        if slots.count < configuration.vms {
            createVM()
            return
        }
        let index = pick(slots.count)
        let slot = slots[index]
        if engine.state.vms[slot.vm]?.life != .alive || (slot.events > 50_000 && chance(0.001)) {
            tearDown(index)
            return
        }
        slots[index].events += 1
        let misbehave = chance(configuration.misbehaviour)
        let (offset, size) = randomRange()
        let range = MemoryRange.file(gmem: slot.gmem, offset: offset, size: size)
        let guest = MemoryRange.guest(vm: slot.vm, gpa: slot.gpa + offset, size: size)
        switch random.next() % 100 {
        case 0..<14:
            pending.append(Event(.populate(range, pfn: frames(size / pageSize))))
        case 14..<30:
            pending.append(Event(.map(guest)))
        case 30..<42:
            acceptOrRelease(slot, range: range, guest: guest, misbehave: misbehave)
        case 42..<62:
            convert(slot, offset: offset, size: size, misbehave: misbehave)
        case 62..<72:
            iommu(slot, range: range, misbehave: misbehave)
        case 72..<80:
            pending.append(Event(.punchHole(range)))
            if !requestedOrShared(slot, offset: offset, size: size) && !misbehave { pending.removeLast() }
        case 80..<86:
            pending.append(Event(.zap(guest, reason: misbehave ? "host" : "convert")))
            if !misbehave && !requestedOrShared(slot, offset: offset, size: size) { pending.removeLast() }
        case 86..<94:
            pending.append(Event(.hostAccess(range)))
            if !misbehave && !isShared(slot, offset: offset, size: size) { pending.removeLast() }
        case 94..<97:
            pending.append(Event(.pin(range, holder: .gup)))
            pending.append(Event(.release(range, holder: .gup)))
        case 97:
            if misbehave, let frame = someQuarantinedFrame() {
                pending.append(Event(.reuse(pfn: frame, npages: 1, owner: "host-allocator")))
            } else {
                pending.append(Event(.mce(pfn: frames(1))))
            }
        default:
            // A log that disagrees with the model: the kernel answered something else.
            var event = Event(.map(guest))
            if misbehave { event.result = "EFAULT" }
            pending.append(event)
        }
    }

    private mutating func createVM() {
        generation += 1
        let tdxConnect = generation % 2 == 0
        let vm = "td\(generation)"
        let gmem = "g\(generation)"
        let gpa: UInt64 = 4 << 30
        let folio: UInt64 = configuration.gmemSize >= 1 << 40 ? 1 << 30 : 2 << 20
        pending.append(Event(.vmCreate(vm: vm, type: "tdx", tdxConnect: tdxConnect), kernel: configuration.kernel))
        pending.append(Event(.gmemCreate(vm: vm, gmem: gmem, size: configuration.gmemSize, flags: ["mmap"], folioSize: folio)))
        pending.append(Event(.bind(
            vm: vm, gmem: gmem, slot: 1, gpa: gpa, size: configuration.gmemSize, offset: 0,
            hva: 0x7f00_0000_0000 + UInt64(generation) << 36)))
        slots.append(Slot(vm: vm, gmem: gmem, tdxConnect: tdxConnect, gpa: gpa))
    }

    private mutating func tearDown(_ index: Int) {
        let slot = slots.remove(at: index)
        if engine.state.vms[slot.vm]?.life == .alive {
            pending.append(Event(.zap(.file(gmem: slot.gmem, offset: 0, size: configuration.gmemSize), reason: "teardown")))
        }
        pending.append(Event(.vmDestroy(vm: slot.vm)))
        pending.append(Event(.gmemClose(gmem: slot.gmem)))
    }

    /// A 4 KiB (70%), 2 MiB (25%) or 1 GiB (5%) piece, aligned to its size.
    private mutating func randomRange() -> (UInt64, UInt64) {
        var size: UInt64
        switch random.next() % 100 {
        case 0..<70: size = 4096
        case 70..<95: size = 2 << 20
        default: size = 1 << 30
        }
        size = Swift.min(size, configuration.gmemSize)
        let count = configuration.gmemSize / size
        return ((random.next() % count) * size, size)
    }

    private mutating func frames(_ count: UInt64) -> UInt64 {
        defer { nextFrame &+= count }
        return nextFrame
    }

    private func pages(_ slot: Slot, _ offset: UInt64, _ size: UInt64) -> (RangeMap<PageState>, Range<UInt64>)? {
        guard let file = engine.state.file(slot.gmem) else { return nil }
        return (file.pages, (offset / pageSize)..<((offset + size) / pageSize))
    }

    private func isShared(_ slot: Slot, offset: UInt64, size: UInt64) -> Bool {
        guard let (pages, range) = pages(slot, offset, size) else { return false }
        return pages.firstPage(in: range) { $0.shareability == .private } == nil
    }

    private func requestedOrShared(_ slot: Slot, offset: UInt64, size: UInt64) -> Bool {
        guard let (pages, range) = pages(slot, offset, size) else { return false }
        return pages.firstPage(in: range) { $0.shareability == .private && $0.requested != .shared && $0.mapped } == nil
    }

    private func someQuarantinedFrame() -> UInt64? {
        for file in engine.state.files {
            for run in file.pages.runs where run.value.quarantined {
                if let pfn = run.value.pfn(ofPage: run.lower) { return pfn }
            }
        }
        return nil
    }

    private mutating func acceptOrRelease(_ slot: Slot, range: MemoryRange, guest: MemoryRange, misbehave: Bool) {
        guard let (pages, pageRange) = pages(slot, range.offsetOrZero, range.size) else { return }
        let accepted = pages.firstPage(in: pageRange) { $0.accepted } != nil
        if !accepted || misbehave {
            pending.append(Event(.accept(guest)))
        } else if slot.tdxConnect {
            if pages.firstPage(in: pageRange, where: { $0.pins.td == 0 }) == nil {
                pending.append(Event(.release(guest, holder: .td)))
            }
        }
    }

    /// A conversion as a well-behaved guest and VMM do it (release, request, convert), or
    /// without the release or the request when misbehaving.
    private mutating func convert(_ slot: Slot, offset: UInt64, size: UInt64, misbehave: Bool) {
        guard let (pages, pageRange) = pages(slot, offset, size) else { return }
        let toShared = pages.firstPage(in: pageRange) { $0.shareability == .private } != nil
        let file = MemoryRange.file(gmem: slot.gmem, offset: offset, size: size)
        if toShared {
            if !misbehave, slot.tdxConnect {
                for held in pages.ranges(in: pageRange, where: { $0.pins.td > 0 }) {
                    for _ in 0..<Int(pages[held.lowerBound]?.pins.td ?? 0) {
                        pending.append(Event(.release(
                            .guest(vm: slot.vm, gpa: slot.gpa + held.lowerBound * pageSize, size: UInt64(held.count) * pageSize),
                            holder: .td)))
                    }
                }
            }
            if !misbehave || chance(0.5) {
                pending.append(Event(.convertRequest(vm: slot.vm, gpa: slot.gpa + offset, size: size, to: .shared, implicit: false)))
            }
            pending.append(Event(.convert(file, to: .shared)))
        } else {
            pending.append(Event(.convertRequest(vm: slot.vm, gpa: slot.gpa + offset, size: size, to: .private, implicit: chance(0.3))))
            if !misbehave {
                for held in pages.ranges(in: pageRange, where: { $0.pins.iommu > 0 }) {
                    let count = Int(pages[held.lowerBound]?.pins.iommu ?? 0)
                    for _ in 0..<count {
                        pending.append(Event(.release(.file(gmem: slot.gmem, offset: held.lowerBound * pageSize, size: UInt64(held.count) * pageSize), holder: .iommu)))
                    }
                }
            }
            pending.append(Event(.convert(file, to: .private)))
        }
    }

    private mutating func iommu(_ slot: Slot, range: MemoryRange, misbehave: Bool) {
        guard let (pages, pageRange) = pages(slot, range.offsetOrZero, range.size) else { return }
        if pages.firstPage(in: pageRange, where: { $0.pins.iommu == 0 }) == nil, !misbehave {
            pending.append(Event(.release(range, holder: .iommu)))
        } else if isShared(slot, offset: range.offsetOrZero, size: range.size) || misbehave {
            pending.append(Event(.pin(range, holder: .iommu)))
        }
    }
}

extension MemoryRange {
    var offsetOrZero: UInt64 {
        if case .file(_, let offset, _) = self { return offset }
        return 0
    }
}
