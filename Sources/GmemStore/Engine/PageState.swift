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
///
/// Stored packed, 25 bytes (a run of them 48 with its bounds, 56 before): the frame delta, the
/// four pin counts as two words, and one byte of flags (shareability, populated, whether a frame
/// is recorded, mapped, accepted, quarantined, the pending request). Equal states have equal
/// words (a state without a frame stores delta 0), so comparing two is four word compares: the
/// range maps compare neighbours on every update to merge them.
public struct PageState: Hashable, Sendable {
    /// The frame delta; 0 when none is recorded.
    private var delta: Int64 = 0
    /// Pins `td` (low half) and `iommu` (high half).
    private var hostAndTD: UInt64 = 0
    /// Pins `vfio` (low half) and `gup` (high half).
    private var vfioAndGUP: UInt64 = 0
    private var flags: UInt8 = 0

    private static let isPrivate: UInt8 = 1 << 0
    private static let isPopulated: UInt8 = 1 << 1
    private static let hasFrame: UInt8 = 1 << 2
    private static let isMapped: UInt8 = 1 << 3
    private static let isAccepted: UInt8 = 1 << 4
    private static let isQuarantined: UInt8 = 1 << 5
    /// Two bits: 0 none, 1 shared, 2 private.
    private static let requestShift: UInt8 = 6
    private static let requestMask: UInt8 = 3 << 6

    public init(shareability: Shareability) {
        self.shareability = shareability
    }

    private func flag(_ bit: UInt8) -> Bool { flags & bit != 0 }

    private mutating func set(_ bit: UInt8, _ on: Bool) {
        flags = on ? flags | bit : flags & ~bit
    }

    public var shareability: Shareability {
        get { flag(Self.isPrivate) ? .private : .shared }
        set { set(Self.isPrivate, newValue == .private) }
    }

    public var populated: Bool {
        get { flag(Self.isPopulated) }
        set { set(Self.isPopulated, newValue) }
    }

    /// The frame backing page `p` is `p + frameDelta` when known; `nil` when not recorded.
    /// Stored as a delta so that contiguous frames stay one run.
    public var frameDelta: Int64? {
        get { flag(Self.hasFrame) ? delta : nil }
        set {
            delta = newValue ?? 0
            set(Self.hasFrame, newValue != nil)
        }
    }

    public var mapped: Bool {
        get { flag(Self.isMapped) }
        set { set(Self.isMapped, newValue) }
    }

    public var accepted: Bool {
        get { flag(Self.isAccepted) }
        set { set(Self.isAccepted, newValue) }
    }

    public var quarantined: Bool {
        get { flag(Self.isQuarantined) }
        set { set(Self.isQuarantined, newValue) }
    }

    public var requested: ConversionRequest {
        get {
            switch (flags & Self.requestMask) >> Self.requestShift {
            case 1: .shared
            case 2: .private
            default: .none
            }
        }
        set {
            let bits: UInt8 = switch newValue {
            case .none: 0
            case .shared: 1
            case .private: 2
            }
            flags = (flags & ~Self.requestMask) | (bits << Self.requestShift)
        }
    }

    public var pins: Pins {
        get {
            var pins = Pins()
            pins.td = UInt32(truncatingIfNeeded: hostAndTD)
            pins.iommu = UInt32(truncatingIfNeeded: hostAndTD >> 32)
            pins.vfio = UInt32(truncatingIfNeeded: vfioAndGUP)
            pins.gup = UInt32(truncatingIfNeeded: vfioAndGUP >> 32)
            return pins
        }
        set {
            hostAndTD = UInt64(newValue.td) | UInt64(newValue.iommu) << 32
            vfioAndGUP = UInt64(newValue.vfio) | UInt64(newValue.gup) << 32
        }
    }

    /// True when no holder pins the page (`pins.isEmpty` without unpacking).
    var unpinned: Bool { hostAndTD == 0 && vfioAndGUP == 0 }

    /// The frame backing `page`, when known.
    public func pfn(ofPage page: UInt64) -> UInt64? {
        guard populated, let frameDelta else { return nil }
        return UInt64(bitPattern: Int64(bitPattern: page) &+ frameDelta)
    }

    public static func == (lhs: PageState, rhs: PageState) -> Bool {
        lhs.delta == rhs.delta && lhs.hostAndTD == rhs.hostAndTD && lhs.vfioAndGUP == rhs.vfioAndGUP && lhs.flags == rhs.flags
    }
}
