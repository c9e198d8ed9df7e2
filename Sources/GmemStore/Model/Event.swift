/// Whether a page may be faulted by the host (`shared`) or only by the guest (`private`).
/// The kernel keeps this per guest_memfd inode (`SHAREABILITY_ALL` / `SHAREABILITY_GUEST`).
public enum Shareability: String, Sendable, CaseIterable {
    case shared
    case `private`
}

/// Who holds a pin on a page. `td` is the TD's own DMA pin (TDX Connect, PAGE_RELEASE mode);
/// the others are extra folio references held on the host, which make
/// `kvm_gmem_has_safe_refcount()` fail.
public enum Holder: String, Sendable, CaseIterable {
    case td
    case iommu
    case vfio
    case gup

    /// True for the holders whose references block a conversion to private.
    public var isHost: Bool { self != .td }
}

/// A range of guest memory as an event names it: file offsets of a gmem, or guest physical
/// addresses of a VM, resolved through its memslot bindings.
public enum MemoryRange: Equatable, Sendable {
    case file(gmem: String, offset: UInt64, size: UInt64)
    case guest(vm: String, gpa: UInt64, size: UInt64)

    public var size: UInt64 {
        switch self {
        case .file(_, _, let size), .guest(_, _, let size): size
        }
    }

    /// The range's first byte in its own addressing: a file offset or a gpa.
    public var address: UInt64 {
        switch self {
        case .file(_, let offset, _): offset
        case .guest(_, let gpa, _): gpa
        }
    }
}

/// The operations of the log (EVENTS.md §2), with the fields each one carries.
public enum Operation: Equatable, Sendable {
    case vmCreate(vm: String, type: String, tdxConnect: Bool)
    case vmDestroy(vm: String)
    case vmBugged(vm: String, reason: String?)
    case gmemCreate(vm: String, gmem: String, size: UInt64, flags: [String], folioSize: UInt64)
    case gmemClose(gmem: String)
    case bind(vm: String, gmem: String, slot: UInt64, gpa: UInt64, size: UInt64, offset: UInt64, hva: UInt64?)
    case unbind(vm: String, slot: UInt64)
    case populate(MemoryRange, pfn: UInt64?)
    case punchHole(MemoryRange)
    case map(MemoryRange)
    case zap(MemoryRange, reason: String?)
    case convertRequest(vm: String, gpa: UInt64, size: UInt64, to: Shareability, implicit: Bool)
    case convert(MemoryRange, to: Shareability)
    case accept(MemoryRange)
    case pin(MemoryRange, holder: Holder)
    case release(MemoryRange, holder: Holder)
    case hostAccess(MemoryRange)
    case reuse(pfn: UInt64, npages: UInt64, owner: String?)
    case mce(pfn: UInt64)
    /// A trace line kept as context (docs/MODEL.md, an addition to EVENTS.md): a tracepoint
    /// such as `kvm_page_fault` or `kvm_pio` that says what the machine was doing but changes
    /// no page state.
    case context(tracepoint: String)
    /// A hole in the evidence (EVENTS.md §2): `source` lost events — `lost` of them when it
    /// said how many (ftrace's `[LOST n EVENTS]`, a ring-buffer overrun, a live reader's
    /// uncommitted lines). The state after it cannot be trusted for any page it may have touched.
    case gap(source: String, lost: UInt64?)
    /// A record that batch `batch` (seqs `firstSeq`…`lastSeq`, the last of them with chain hash
    /// `lastHash`) was read wrongly: every replay skips those events from then on; they stay in
    /// the log as evidence (docs/STORE.md, "Retracted batches"). Changes no page by itself.
    case retract(batch: UInt64, firstSeq: UInt64, lastSeq: UInt64, lastHash: [UInt8], reason: String)

    /// True for `retract`: a record about other events, not something the machine did.
    public var isRetraction: Bool {
        if case .retract = self { return true }
        return false
    }

    /// The memory range the operation acts on, when it has one.
    public var range: MemoryRange? {
        switch self {
        case .populate(let range, _), .punchHole(let range), .map(let range), .zap(let range, _),
            .convert(let range, _), .accept(let range), .pin(let range, _), .release(let range, _),
            .hostAccess(let range):
            range
        case .convertRequest(let vm, let gpa, let size, _, _):
            .guest(vm: vm, gpa: gpa, size: size)
        default:
            nil
        }
    }

    /// The actor recorded when the event names none.
    public var defaultActor: String {
        switch self {
        case .convertRequest, .accept: "guest"
        case .pin(_, let holder), .release(_, let holder):
            switch holder {
            case .td: "guest"
            case .iommu: "iommu"
            case .vfio, .gup: "vmm"
            }
        case .map, .zap, .vmBugged, .context: "kvm"
        case .hostAccess, .reuse, .mce, .gap, .retract: "host"
        default: "vmm"
        }
    }
}

/// Where an event came from: the input it was read from, its line, and (for traces) the
/// line's text. Kept with the event as evidence.
public struct EventSource: Equatable, Sendable {
    public var file: String
    public var line: UInt64
    public var text: String?

    public init(file: String, line: UInt64, text: String? = nil) {
        self.file = file
        self.line = line
        self.text = text
    }
}

/// One transaction of the log: an operation and what the producer observed about it.
public struct Event: Equatable, Sendable {
    public var op: Operation
    /// Nanoseconds: since the Unix epoch for RFC 3339 input, as given for integer input.
    public var ts: Int64?
    /// The producer's unique id; an event whose id is already stored is skipped.
    public var id: String?
    public var host: String
    public var actor: String
    /// The observed outcome: `ok` or an error name. `nil` when not observed.
    public var result: String?
    /// With a failed `convert`: the offset the kernel reported.
    public var errorOffset: UInt64?
    /// On `vm_create`: the kernel profile that judges the VM (EVENTS.md §4a). Ingest writes the
    /// effective one into the stored body, so a replay never depends on a setting outside the log.
    public var kernel: KernelProfile?
    /// On `convert`: the ioctl it went through; nil is the default, `gmem`.
    public var via: ConversionPath?
    public var note: String?
    public var source: EventSource?
    /// Fields the vocabulary does not name, kept as given.
    public var extra: [JSONMember]

    public init(
        _ op: Operation, ts: Int64? = nil, id: String? = nil, host: String = "local", actor: String? = nil,
        result: String? = nil, errorOffset: UInt64? = nil, note: String? = nil, source: EventSource? = nil,
        extra: [JSONMember] = [], kernel: KernelProfile? = nil, via: ConversionPath? = nil
    ) {
        self.op = op
        self.ts = ts
        self.id = id
        self.host = host
        self.actor = actor ?? op.defaultActor
        self.result = result
        self.errorOffset = errorOffset
        self.note = note
        self.source = source
        self.extra = extra
        if case .vmCreate = op { self.kernel = kernel }
        if case .convert = op { self.via = via }
    }
}

/// The page size every offset, size and gpa is a multiple of.
public let pageSize: UInt64 = 4096
