/// The kernel generation a VM runs, which decides how the engine judges its events
/// (EVENTS.md §4a, docs/MODEL.md "Kernel profiles"). Every behaviour that differs between
/// kernels is a member of this type; the engine's transitions consult these members and nothing
/// else, so a difference lives in one place.
public enum KernelProfile: String, CaseIterable, Sendable {
    /// The July 2025 RFC the seed thread discusses (EVENTS.md §4 with docs/MODEL.md's choices):
    /// a failed S-EPT removal fails the conversion or zap with EIO and nothing changes.
    case rfc2025 = "rfc-2025"
    /// Mainline TDX host code from late 2025 with the guest_memfd in-place conversion series v8:
    /// a failed S-EPT removal bugs the VM, KVM drops its own mapping and the operation goes on
    /// (`tdx_sept_remove_private_spte()` is void), so the danger is in the frame, not the return code.
    case upstream2026 = "upstream-2026"

    /// The profile of a VM whose `vm_create` names none and whose ingest chose none.
    public static let standard = KernelProfile.upstream2026

    /// True when the S-EPT removal of `page` fails because the TD holds it.
    /// rfc-2025: a mapped page with a `td` pin (the zap rule of docs/MODEL.md, either direction).
    /// upstream-2026: a TD-held page, i.e. private, mapped and `td`-pinned; shared mappings live
    /// in the direct roots and their zap issues no SEAMCALL (kernel-2026.md §1).
    public func removalFails(_ page: PageState) -> Bool {
        switch self {
        case .rfc2025: page.mapped && page.pins.td > 0
        case .upstream2026: page.shareability == .private && page.mapped && page.pins.td > 0
        }
    }

    /// True when a failed removal fails the operation: `EIO`, the blocking pages stay mapped and
    /// nothing else of the operation happens (rfc-2025). False when the operation goes on with
    /// KVM's mapping dropped, the page quarantined until the VM's teardown, and only a `zap`
    /// event reports `EIO` (upstream-2026: `remove_external_spte()` is void, kernel-2026.md §3).
    public var failedRemovalStopsTheOperation: Bool { self == .rfc2025 }

    /// True when quarantine ends only at the VM's `vm_destroy` (the TDX module keeps mapping the
    /// frame until the TD is torn down and its pages reclaimed, kernel-2026.md §3); false when a
    /// later successful zap or conversion ends it (rfc-2025).
    public var quarantineEndsAtTeardown: Bool { self == .upstream2026 }

    /// True when `gmem_close` invalidates the file's mappings (and so attempts S-EPT removals):
    /// the kernel's release of the guest_memfd inode does (kernel-2026.md §3, Yan Zhao's teardown
    /// order). rfc-2025 as docs/MODEL.md recorded it closes without a zap.
    public var closeZaps: Bool { self == .upstream2026 }

    /// True when a conversion that changes nothing (every page already has the target
    /// shareability) returns early and leaves mappings and acceptance alone (v8 16/46); false
    /// when it unmaps and un-accepts like any conversion (rfc-2025).
    public var unchangedConversionReturnsEarly: Bool { self == .upstream2026 }

    /// True when a conversion to private of an all-shared range zaps only shared mappings, which
    /// never fail (mainline `KVM_FILTER_SHARED`, v8 20/46); false when it applies the removal rule
    /// to the whole range (rfc-2025's choice, docs/MODEL.md).
    public var sharedToPrivateZapsOnlyShared: Bool { self == .upstream2026 }

    /// True when an event refused because its VM is dead has no effect at all. rfc-2025 keeps
    /// docs/MODEL.md's choice that a refused `unbind` still drops the binding.
    public var refusalHasNoEffect: Bool { self == .upstream2026 }

    /// True when `event` still runs on a VM in `life` (is not refused with `EIO`).
    /// Both profiles: the gmem file operations of EVENTS.md §4 (`punch_hole`, `gmem_close`,
    /// `populate`, `host_access`, `release` by a host holder), `vm_bugged`, `mce`, `reuse`,
    /// `context` and KVM's teardown zaps. upstream-2026, on a bugged VM: also guest_memfd's
    /// conversion ioctl (`convert` via `gmem`), `pin` by a host holder and every `zap`; VM and
    /// vCPU ioctls are refused (kernel-2026.md §3: only `kvm_vm_ioctl`/`kvm_vcpu_ioctl`/
    /// `kvm_device_ioctl` check `vm_bugged`).
    public func stillRuns(_ event: Event, on life: VMLife) -> Bool {
        switch event.op {
        case .punchHole, .gmemClose, .populate, .hostAccess, .vmBugged, .mce, .reuse, .context, .gap: return true
        case .release(_, let holder): return holder.isHost
        case .zap(_, let reason): return reason == "teardown" || (self == .upstream2026 && life == .bugged)
        case .pin(_, let holder): return self == .upstream2026 && life == .bugged && holder.isHost
        case .convert: return self == .upstream2026 && life == .bugged && (event.via ?? .gmem) == .gmem
        default: return false
        }
    }
}

/// Which ioctl a `convert` went through (EVENTS.md §2 `via`).
public enum ConversionPath: String, CaseIterable, Sendable {
    /// The guest_memfd fd: KVM_GMEM_CONVERT_SHARED/PRIVATE, KVM_SET_MEMORY_ATTRIBUTES2. Runs on a
    /// bugged VM under upstream-2026 (guest_memfd checks no `vm_bugged`).
    case gmem
    /// The VM fd: KVM_SET_MEMORY_ATTRIBUTES, refused with EIO on a bugged VM.
    case vm
}

extension Event {
    /// The event as ingest stores it: a `vm_create` that names no kernel names `profile`, so the
    /// profile is hashed and exported with the event (EVENTS.md §4a).
    public func namingKernel(_ profile: KernelProfile) -> Event {
        guard case .vmCreate = op, kernel == nil else { return self }
        var event = self
        event.kernel = profile
        return event
    }
}
