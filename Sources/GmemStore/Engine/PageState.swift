/// Pin counts per holder on one page.
public struct Pins: Hashable, Sendable {
    public var td: UInt32 = 0
    public var iommu: UInt32 = 0
    public var vfio: UInt32 = 0
    public var gup: UInt32 = 0

    public init() {}

    public subscript(holder: Holder) -> UInt32 {
        get {
            switch holder {
            case .td: td
            case .iommu: iommu
            case .vfio: vfio
            case .gup: gup
            }
        }
        set {
            switch holder {
            case .td: td = newValue
            case .iommu: iommu = newValue
            case .vfio: vfio = newValue
            case .gup: gup = newValue
            }
        }
    }

    /// True when an `iommu`, `vfio` or `gup` reference is held: the refcount the kernel checks
    /// before a conversion to private.
    public var hasHostPin: Bool { iommu > 0 || vfio > 0 || gup > 0 }
    public var isEmpty: Bool { td == 0 && !hasHostPin }

    /// The holders with a count above zero, in the order td, iommu, vfio, gup.
    public var held: [(Holder, UInt32)] {
        Holder.allCases.compactMap { self[$0] > 0 ? ($0, self[$0]) : nil }
    }
}

/// What a guest has asked a page to become and the host has not yet done.
public enum ConversionRequest: String, Sendable {
    case none
    case shared
    case `private`
}

/// The state of one page of a gmem file (EVENTS.md §3). The engine keeps it per run of pages,
/// never per page.
public struct PageState: Hashable, Sendable {
    public var shareability: Shareability
    public var populated = false
    /// The frame backing page `p` is `p + frameDelta` when known; `nil` when not recorded.
    /// Stored as a delta so that contiguous frames stay one run.
    public var frameDelta: Int64?
    public var mapped = false
    public var accepted = false
    public var pins = Pins()
    public var requested = ConversionRequest.none
    public var quarantined = false

    public init(shareability: Shareability) {
        self.shareability = shareability
    }

    /// The frame backing `page`, when known.
    public func pfn(ofPage page: UInt64) -> UInt64? {
        guard populated, let frameDelta else { return nil }
        return UInt64(bitPattern: Int64(bitPattern: page) &+ frameDelta)
    }
}
