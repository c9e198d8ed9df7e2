/// One change `Engine.commit` makes, named as the kernel would name it. `commit` is the one
/// place that decides what an event does to VMs, memslots, files, pages and frames; it hands
/// every change it makes, in order, to a `TransitionFold`, so that the auditor's memory and the
/// forensic indexes fold what the engine did instead of working it out again from the
/// operation (docs/MODEL.md "One state machine").
///
/// Pages are named by `Piece` (the event's own addressing kept) or `FileSpan` (a run of file
/// pages the engine found inside a piece). A transition that needs the state it came from says
/// so: `failed` is computed before the change that the same event makes, `released` and
/// `leftQuarantined` after it.
public enum Transition: Equatable, Sendable {
    /// `KVM_CREATE_VM`: a VM of this name now runs (a re-used name starts over, alive and
    /// without memslots).
    case vmCreated(vm: String)
    /// The VM stopped running: `KVM_BUG_ON` (a `vm_bugged` event, or a failed S-EPT removal
    /// under either profile) or its teardown. From here its VM, vCPU and device ioctls return
    /// `-EIO`. Made once per VM, when it leaves `alive`.
    case vmDied(vm: String)
    /// `vm_destroy`: the teardown took the stage-2 mappings of these pages, and with them the
    /// TD's acceptance (`kvm_mmu_zap_all` / `tdx_mmu_release_hkid`).
    case tornDown(Piece)
    /// The TD's teardown reclaimed these frames from the TDX module (`tdh_phymem_page_reclaim`):
    /// no page of them stays quarantined (upstream-2026: quarantine ends at teardown).
    case reclaimed(FileSpan)
    /// These pages stay quarantined while their VM or file goes away (`vm_destroy` under
    /// rfc-2025, `gmem_close`): the TDX module still maps frames nobody will reclaim — the
    /// REMOVE/WBINVD/RECLAIM "state hole" of GM-R14.
    case leftQuarantined(FileSpan)
    /// `KVM_CREATE_GUEST_MEMFD`: file `file` (index into `GmemState.files`) of `pages` pages,
    /// each `shareability` (`GUEST_MEMFD_FLAG_INIT_SHARED` or not).
    case fileCreated(file: Int, pages: UInt64, shareability: Shareability)
    /// The last reference to the guest_memfd was dropped (`kvm_gmem_release`): file `file` is
    /// closed; only its pinned or quarantined pages are left.
    case fileClosed(file: Int)
    /// `KVM_SET_USER_MEMORY_REGION2` bound guest frames `gpaPages` of `vm` to a gmem file.
    case bound(vm: String, gpaPages: Range<UInt64>)
    /// The memslot of guest frames `gpaPages` of `vm` was deleted.
    case unbound(vm: String, gpaPages: Range<UInt64>)
    /// The invalidation (`kvm_gmem_invalidate_begin` → `kvm_unmap_gfn_range`) removed the pages'
    /// stage-2 mappings: they are unmapped and no longer accepted, and no mapping is left for a
    /// retry to fail on. `endsQuarantine`: the zap succeeded as a whole under a profile where a
    /// failed removal stops the operation, so it also took the pages out of quarantine (rfc-2025).
    case zapped(Piece, endsQuarantine: Bool)
    /// The S-EPT removal (`tdh_mem_page_remove`) of these pages failed because the TD holds
    /// them, and they are quarantined: the TDX module still maps their frames. Under rfc-2025
    /// the operation failed with `EIO` and they stay mapped; under upstream-2026 KVM dropped its
    /// own mapping and went on.
    case quarantined(Piece)
    /// The operation failed on these pages for `cause`: a retry meets the same failure until
    /// that cause is released (GM-R03). `.tdPin`: the S-EPT removal of a mapped, TD-pinned page;
    /// `.hostPin`: a conversion met extra folio references (`EAGAIN`).
    case failed(FileSpan, cause: FailureCause)
    /// `KVM_GMEM_CONVERT_*` / `KVM_SET_MEMORY_ATTRIBUTES`: the pages are now `to`, unmapped and
    /// not accepted, and the guest's request for `to` is done. `endsQuarantine`: the conversion
    /// also took them out of quarantine (rfc-2025).
    case converted(Piece, to: Shareability, endsQuarantine: Bool)
    /// A conversion found every page already `to` and returned early (v8 16/46): mappings and
    /// acceptance stay; only the guest's request for `to` is done.
    case alreadyConverted(Piece, to: Shareability)
    /// `KVM_HC_MAP_GPA_RANGE`: the guest asked for these pages to become `to`.
    case requested(Piece, to: Shareability)
    /// `kvm_gmem_populate` (or a fault) put folios behind the pages, the first at frame
    /// `firstFrame` when the log names it; the frames they had before are forgotten.
    case populated(Piece, firstFrame: UInt64?)
    /// `FALLOC_FL_PUNCH_HOLE`: the folios went back to the host; a quarantined page's frame stays
    /// recorded, because the TDX module still maps it.
    case holePunched(Piece)
    /// The pages were mapped in stage 2 (an EPT/S-EPT fault or `TDH.MEM.PAGE.AUG`).
    case mapped(Piece)
    /// `TDG.MEM.PAGE.ACCEPT`: the TD accepted the pages; `pinnedByTD` when its VM uses TDX
    /// Connect, where acceptance also takes a TD pin.
    case accepted(Piece, pinnedByTD: Bool)
    /// `holder` took a reference on the pages (a TD pin, an IOMMU or VFIO mapping, a GUP pin).
    case pinned(Piece, holder: Holder)
    /// `holder` dropped one reference on these pages; `remaining` is what each of them still
    /// holds after it (a TD release also ends the acceptance).
    case released(FileSpan, holder: Holder, remaining: Pins)
    /// The host handed `frames` to `owner`.
    case reused(frames: Range<UInt64>, owner: String)
}

/// Why a zap or conversion failed, as far as a retry is concerned: the cause a retry would meet
/// again (GM-R03).
public enum FailureCause: UInt8, Sendable {
    case none = 0
    /// A mapped page pinned by the TD made the S-EPT removal fail (`EIO`).
    case tdPin = 1
    /// An `iommu`/`vfio`/`gup` reference made a conversion fail (`EAGAIN`,
    /// `kvm_gmem_has_safe_refcount()`).
    case hostPin = 2
}

/// What folds the transitions of `Engine.commit`, in the order the engine makes them.
public protocol TransitionFold {
    /// True when the fold ignores every transition, so that the engine skips the walks of the
    /// pages that only a fold needs (`failed`, `released`, `leftQuarantined`).
    static var ignoresTransitions: Bool { get }

    mutating func fold(_ transition: Transition)
}

extension TransitionFold {
    public static var ignoresTransitions: Bool { false }
}

/// The fold of a commit whose transitions nobody reads (the store's ingest, a replay).
public struct IgnoredTransitions: TransitionFold {
    public static var ignoresTransitions: Bool { true }

    public init() {}

    @inline(__always)
    public mutating func fold(_ transition: Transition) {}
}

/// The transitions of a commit, kept in order (tests, `explain`-like tools).
public struct TransitionLog: TransitionFold {
    public var transitions: [Transition] = []

    public init() {}

    public mutating func fold(_ transition: Transition) {
        transitions.append(transition)
    }
}

/// A run of pages of one gmem file, by index into `GmemState.files`.
public struct FileSpan: Equatable, Sendable {
    public var file: Int
    public var pages: Range<UInt64>

    public init(file: Int, pages: Range<UInt64>) {
        self.file = file
        self.pages = pages
    }
}

extension Engine {
    /// Judges `event`, applies it and hands the transitions it makes to `fold` (`apply(_:)`).
    @discardableResult
    public mutating func apply<Fold: TransitionFold>(_ event: Event, into fold: inout Fold) -> Verdict {
        let verdict = evaluate(event)
        commit(event, verdict, into: &fold)
        return verdict
    }
}
