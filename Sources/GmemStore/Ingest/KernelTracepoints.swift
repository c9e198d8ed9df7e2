/// What each kernel tracepoint gmem reads means for guest_memfd pages (EVENTS.md §5), from the
/// values of its fields: the one place that says it, for both ways a trace arrives. The text
/// reader (`FtraceReader`) takes the values from the line the kernel's format string printed;
/// the trace.dat reader (`TraceDatReader`) reads the same fields from the record through
/// libtraceevent. Each function returns nil when the values cannot be what the kernel recorded
/// (counted as `EVENT (malformed)`).
enum KernelTracepoints {
    /// The tracepoints kept as context: no state change (EVENTS.md §5).
    static let context: Set<String> = [
        "kvm_page_fault", "kvm_mmu_spte_requested", "kvm_mmu_pagetable_walk", "kvm_userspace_exit", "kvm_pio",
        "kvm_exit",
    ]

    /// The tracepoints whose fields say something about gmem pages.
    static let stateful: Set<String> = [
        "kvm_mmu_set_spte", "kvm_tdp_mmu_spte_changed", "kvm_mmu_prepare_zap_page", "kvm_mmu_zap_all_fast",
        "kvm_unmap_hva_range", "kvm_hypercall", "map", "unmap",
    ]

    /// The name a skipped line of `event` is counted under: the kernel's marker event (`print`,
    /// system `ftrace`) as the marker tracefs prints, `tracing_mark_write`.
    static func countedName(_ event: String) -> String {
        event == "print" ? "tracing_mark_write" : event
    }

    /// `KVM_HC_MAP_GPA_RANGE`, the hypercall a guest makes to ask for a conversion.
    static let mapGPARangeHypercall: UInt64 = 0xc
    /// `KVM_MAP_GPA_RANGE_ENCRYPTED`: the range is to become private.
    static let mapGPARangeEncrypted: UInt64 = 1 << 4
    /// The present bit of an x86 SPTE (`SPTE_MMU_PRESENT_MASK`, bit 11).
    static let sptePresent: UInt64 = 1 << 11
    /// The page-size bit of an x86 SPTE (`PT_PAGE_SIZE_MASK`, bit 7): a huge leaf.
    static let sptePageSize: UInt64 = 1 << 7

    /// `kvm_mmu_set_spte`: a leaf (level 1, or the page-size bit set) maps 512^(level-1) pages
    /// from `gfn`; a non-leaf is context.
    static func setSPTE(gfn: UInt64, spte: UInt64, level: UInt64) -> TraceRecord.Kind? {
        guard (1...5).contains(level) else { return nil }
        guard level == 1 || spte & sptePageSize != 0 else {
            return .context(note: "not a leaf: level \(level) without the page-size bit")
        }
        return .map(gfn: gfn, pages: pages(level: level))
    }

    /// `kvm_tdp_mmu_spte_changed`: the present bit 0→1 maps, 1→0 zaps 512^(level-1) pages.
    static func spteChanged(gfn: UInt64, level: UInt64, old: UInt64, new: UInt64) -> TraceRecord.Kind? {
        guard (1...5).contains(level) else { return nil }
        let wasPresent = old & sptePresent != 0
        let isPresent = new & sptePresent != 0
        if !wasPresent && isPresent { return .map(gfn: gfn, pages: pages(level: level)) }
        if wasPresent && !isPresent { return .zap(gfn: gfn, pages: pages(level: level)) }
        return .context(note: isPresent ? "present before and after" : "not present before or after")
    }

    /// `kvm_mmu_prepare_zap_page` of a shadow page at `level` (its role's level). Only a
    /// `direct` shadow page maps guest physical addresses: its gfn is the first of the
    /// 512^level pages it covers. An indirect one shadows a guest page table: its gfn is that
    /// table's, and which data pages it covered cannot be told, so it is context. `gfn` nil:
    /// trace-cmd's kvm plugin printed the role without the gfn.
    static func prepareZap(gfn: UInt64?, level: UInt64, direct: Bool) -> TraceRecord.Kind? {
        guard (1...5).contains(level) else { return nil }
        guard let gfn else { return .context(note: "trace-cmd's kvm plugin prints no gfn for this shadow page") }
        if direct { return .zap(gfn: gfn, pages: pages(level: level + 1)) }
        return .context(note: "indirect shadow page: gfn \(hex(gfn)) is the guest page table it shadows, not the data pages it covered")
    }

    /// `kvm_mmu_zap_all_fast`: everything the VM mapped is zapped.
    static func zapAllFast() -> TraceRecord.Kind { .zapAll }

    /// `kvm_unmap_hva_range`: the host unmapped [start, end) of its address space.
    static func unmapHVA(start: UInt64, end: UInt64) -> TraceRecord.Kind? {
        start <= end ? .unmapHVA(start: start, end: end) : nil
    }

    /// `kvm_hypercall`: KVM_HC_MAP_GPA_RANGE (a0 = gpa, a1 = pages, a2 = attributes) is a
    /// conversion request, to private when the attributes' encrypted bit is set; another `nr`
    /// is context.
    static func hypercall(nr: UInt64, a0 gpa: UInt64, a1 npages: UInt64, a2 attributes: UInt64) -> TraceRecord.Kind? {
        guard nr == mapGPARangeHypercall else {
            return .context(note: "hypercall nr \(hex(nr)), not KVM_HC_MAP_GPA_RANGE")
        }
        let (size, overflow) = npages.multipliedReportingOverflow(by: pageSize)
        guard npages > 0, !overflow, gpa % pageSize == 0, !gpa.addingReportingOverflow(size).overflow else { return nil }
        let to: Shareability = attributes & mapGPARangeEncrypted != 0 ? .private : .shared
        return .convertRequest(gpa: gpa, size: size, to: to, implicit: false)
    }

    /// `iommu/map`: [iova, iova + size) now maps host physical `paddr`.
    static func iommuMap(iova: UInt64, paddr: UInt64, size: UInt64) -> TraceRecord.Kind? {
        size > 0 ? .iommuMap(iova: iova, paddr: paddr, size: size) : nil
    }

    /// `iommu/unmap`: `unmapped` bytes at `iova` were unmapped.
    static func iommuUnmap(iova: UInt64, unmapped: UInt64) -> TraceRecord.Kind {
        .iommuUnmap(iova: iova, size: unmapped)
    }

    /// 4 KiB pages in one mapping at `level` (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB).
    static func pages(level: UInt64) -> UInt64 {
        var count: UInt64 = 1
        for _ in 1..<level { count *= 512 }
        return count
    }
}
