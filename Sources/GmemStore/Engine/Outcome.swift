/// What an operation returned, named as the kernel names it: `ok`, an errno (`EIO`, `EAGAIN`,
/// …), a signal the host took (`SIGBUS`) or a TDX module status. Like swift-system's `Errno`:
/// the named values are documented constants whose raw value is the kernel's own name; any
/// other name a log gives is kept as given (`result` is an open value, docs/MODEL.md
/// "Decoding"). Two outcomes are equal when their names are, ignoring ASCII case (`OK` is `ok`),
/// the one comparison every part of gmem uses.
public struct Outcome: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The name as written: `ok`, `EIO`, `TDX_OPERAND_INVALID`, or whatever the log said.
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(stringLiteral value: String) {
        rawValue = value
    }

    /// The outcome named `name`, nil when there is none (an unobserved result).
    public init?(_ name: String?) {
        guard let name else { return nil }
        rawValue = name
    }

    public var description: String { rawValue }

    /// `ok`: the operation did what it was asked.
    public static let ok: Outcome = "ok"
    /// `EIO`: an S-EPT removal failed (`tdh_mem_page_remove` while the TD holds the page), or a
    /// bugged VM refused a VM, vCPU or device ioctl (`KVM_BUG_ON` → `kvm_vm_ioctl` returns -EIO).
    public static let EIO: Outcome = "EIO"
    /// `EAGAIN`: a conversion to private met extra folio references (an `iommu`, `vfio` or `gup`
    /// pin; `kvm_gmem_has_safe_refcount()` fails) and reports the offset in `error_offset`.
    public static let EAGAIN: Outcome = "EAGAIN"
    /// `EBUSY`: the kernel could not take the range now (a busy TDX resource, `TDX_OPERAND_BUSY`
    /// retried and given up).
    public static let EBUSY: Outcome = "EBUSY"
    /// `EINVAL`: a `bind` past the file's end or of another VM's gmem, or a host `release` of a
    /// pin that is not held.
    public static let EINVAL: Outcome = "EINVAL"
    /// `EEXIST`: a `bind` whose gpa range overlaps another memslot or whose file range is bound.
    public static let EEXIST: Outcome = "EEXIST"
    /// `ENODEV`: a host access to a gmem file created without `mmap`.
    public static let ENODEV: Outcome = "ENODEV"
    /// `SIGBUS`: the host faulted on a private page (`kvm_gmem_fault` refuses it).
    public static let SIGBUS: Outcome = "SIGBUS"
    /// `TDX_PAGE_ALREADY_ACCEPTED`: `TDG.MEM.PAGE.ACCEPT` of a page the TD has accepted.
    public static let TDX_PAGE_ALREADY_ACCEPTED: Outcome = "TDX_PAGE_ALREADY_ACCEPTED"
    /// `TDX_OPERAND_INVALID`: a TD `release` (`TDG.MEM.PAGE.RELEASE`) of a page it has not pinned.
    public static let TDX_OPERAND_INVALID: Outcome = "TDX_OPERAND_INVALID"

    /// True for `ok`.
    public var isOK: Bool { self == .ok }

    public static func == (lhs: Outcome, rhs: Outcome) -> Bool {
        lhs.rawValue.sameResultName(as: rhs.rawValue)
    }

    public func hash(into hasher: inout Hasher) {
        // Consistent with ==: names that differ only in case hash alike (a name with other
        // than ASCII characters compares by Unicode's upper case, so it hashes by it too).
        let name = rawValue.utf8.contains(where: { $0 >= 0x80 }) ? rawValue.uppercased() : rawValue
        for byte in name.utf8 {
            hasher.combine(byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte)
        }
    }
}

extension Event {
    /// The observed result as an outcome; nil when the log observed none.
    public var outcome: Outcome? { Outcome(result) }
}

extension Verdict {
    /// The outcome the kernel would give, as an outcome; nil when the model cannot say.
    public var expectedOutcome: Outcome? { Outcome(expected) }

    /// The outcome that decides the state change of `event`: the observed one, else the
    /// expected one (docs/MODEL.md "The observed result decides the state").
    public func effectiveOutcome(of event: Event) -> Outcome? {
        // Spelled out: `??` here copied its optional through the generic value witness, once
        // per event in `evaluate` and again in `commit`.
        if let result = event.result { return Outcome(rawValue: result) }
        if let expected { return Outcome(rawValue: expected) }
        return nil
    }
}
