/// The life of a VM: alive until KVM_BUG_ON (`bugged`) or teardown (`destroyed`).
public enum VMLife: String, Sendable {
    case alive
    case bugged
    case destroyed

    public var isDead: Bool { self != .alive }
}

/// A memslot bound to a gmem file: guest physical pages ↔ file pages (↔ host virtual pages).
public struct Binding: Equatable, Sendable {
    public var slot: UInt64
    public var gmem: String
    public var gpa: UInt64
    public var size: UInt64
    public var offset: UInt64
    public var hva: UInt64?

    public var gpaRange: Range<UInt64> { gpa..<(gpa + size) }
}

/// A VM as the log has shown it.
public struct VirtualMachine: Equatable, Sendable {
    public var type: String
    public var tdxConnect: Bool
    /// The kernel profile that judges this VM's events.
    public var kernel: KernelProfile
    public var life: VMLife = .alive
    /// Bindings by slot.
    public var bindings: [UInt64: Binding] = [:] {
        didSet { bindingsByAddress = bindings.values.sorted { ($0.gpa, $0.slot) < ($1.gpa, $1.slot) } }
    }
    /// The bindings in gpa order (then slot order), kept beside `bindings` so that resolving a
    /// gpa sorts nothing.
    public private(set) var bindingsByAddress: [Binding] = []
    /// The first `gap` (its seq) while the VM lived: from there on the log may lack its events,
    /// so what the state says of it is a reconstruction across a hole (docs/MODEL.md "Gaps").
    public var untrustedSince: Int64?

    public init(type: String, tdxConnect: Bool, kernel: KernelProfile = .standard) {
        self.type = type
        self.tdxConnect = tdxConnect
        self.kernel = kernel
    }
}

/// A guest_memfd file: its geometry and the state of its pages as runs.
public struct GmemFile: Equatable, Sendable {
    public var name: String
    public var vm: String
    public var size: UInt64
    public var flags: [String]
    public var folioSize: UInt64
    public var isOpen = true
    public var pages: RangeMap<PageState>
    /// The first `gap` (its seq) while the file was open: its pages' state from there on may
    /// miss events (docs/MODEL.md "Gaps").
    public var untrustedSince: Int64? = nil

    public var pageCount: UInt64 { size / pageSize }
    public var isMappable: Bool { flags.contains("mmap") }
}

/// Who a frame backs: a gmem file's page, `page = pfn + pageDelta`.
public struct FrameOwner: Hashable, Sendable {
    /// Index into `GmemState.files`.
    public var file: Int
    public var pageDelta: Int64

    /// Frames `first`, `first + 1`, … for `count` pages; nil when they would run past
    /// 2^64 − 1, which a log may claim but the frame map, a map of ranges, cannot hold.
    public static func frames(from first: UInt64, count: Int) -> Range<UInt64>? {
        let (end, overflow) = first.addingReportingOverflow(UInt64(count))
        return overflow ? nil : first..<end
    }
}

/// Everything the engine knows at one point of the log.
public struct GmemState: Equatable, Sendable {
    public var vms: [String: VirtualMachine] = [:] {
        didSet { recent.refreshVMs(from: vms) }
    }
    /// Every gmem file ever created, in creation order (a re-used name makes a new file).
    public var files: [GmemFile] = []
    /// The current file for each gmem id.
    public var fileIndex: [String: Int] = [:] {
        didSet { recent.refreshFiles(from: fileIndex) }
    }
    /// The VMs and files the latest events named, kept beside the dictionaries so that an
    /// event's names are found without hashing; refreshed whenever the dictionaries change.
    var recent = RecentNames()
    /// Which gmem page each recorded frame backs.
    public var frames = RangeMap<FrameOwner>()
    /// Frames the host has handed to another user (`reuse`), with that user.
    public var reusedFrames = RangeMap<String>()

    public init() {}

    /// The current file named `gmem`.
    public func file(_ gmem: String) -> GmemFile? {
        fileIndex[gmem].map { files[$0] }
    }
}
