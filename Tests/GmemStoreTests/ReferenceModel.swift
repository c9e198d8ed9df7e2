@testable import GmemStore

/// A deliberately simple model of EVENTS.md §4 and §4a, docs/MODEL.md and POLICIES.md: one
/// dictionary entry per page, every rule applied page by page, under both kernel profiles, and
/// beside each page's state the findings of every rule. Slow and obviously right; the range
/// engine and the auditor must agree with it on every prefix of every log. It is written from
/// the documents, not from the engine: it shares only the value types (`Event`, `Holder`, …).
struct ReferenceModel {
    struct Page: Equatable {
        var shareability: Shareability
        var populated = false
        var pfn: UInt64?
        var mapped = false
        var accepted = false
        var pins: [Holder: UInt32] = [:]
        var requested = ConversionRequest.none
        var quarantined = false
    }

    /// What the rules remember about a page beyond its state (POLICIES.md GM-R03, GM-R14).
    struct Memory: Equatable {
        /// The cause of the last failed zap or conversion that still stands: `td` for a removal
        /// the TD's pin refused, `host` for an EAGAIN on host references.
        var failure: String?
        /// A `vm_destroy` or `gmem_close` left the page quarantined.
        var exited = false
    }

    struct File {
        var name: String
        var vm: String
        var size: UInt64
        var mappable: Bool
        var open = true
        var pages: [Page]
        var memory: [Memory]
        /// Pages a close let go of (neither pinned nor quarantined): they no longer exist.
        var dropped: Set<Int> = []
        /// The first gap while it was open (EVENTS.md §2 `gap`, docs/MODEL.md "Gaps").
        var untrustedSince: Int64?
    }

    struct VM {
        var tdxConnect: Bool
        var kernel: KernelProfile
        var life = VMLife.alive
        var bindings: [UInt64: Binding] = [:]
        /// The first gap while it was not destroyed.
        var untrustedSince: Int64?
    }

    /// One placed page: the file, the page in it, the event-addressed address.
    struct Placed: Equatable, Hashable {
        var file: Int
        var page: Int
        var address: UInt64
    }

    /// A finding as the model sees it: the rule, its severity, the pages concerned by gmem name
    /// (and page number), and for GM-R13 the unplaced ranges (key, lower, upper) merged.
    struct Found: Equatable, CustomStringConvertible {
        var rule: String
        var severity: Severity
        var pages: Set<String>
        var unplaced: [String]

        var description: String { "\(rule)/\(severity.rawValue) pages \(pages.sorted()) unplaced \(unplaced)" }
    }

    var vms: [String: VM] = [:]
    var files: [File] = []
    var index: [String: Int] = [:]
    var frames: [UInt64: Placed] = [:]  // address unused (0)
    var reused: [UInt64: String] = [:]
    /// `audit --kernel`: every VM judged by this profile.
    var override: KernelProfile?

    init(override: KernelProfile? = nil) {
        self.override = override
    }

    /// Does `op` still run on a VM in `life` under `kernel`? (EVENTS.md §4 last rule; §4a "ops on
    /// a bugged VM".)
    static func runs(_ event: Event, on life: VMLife, under kernel: KernelProfile) -> Bool {
        switch event.op {
        case .punchHole, .gmemClose, .populate, .hostAccess, .vmBugged, .mce, .reuse, .context, .gap: return true
        case .release(_, let holder): return holder != .td
        case .zap(_, let reason): return reason == "teardown" || (kernel == .upstream2026 && life == .bugged)
        case .pin(_, let holder): return kernel == .upstream2026 && life == .bugged && holder != .td
        case .convert: return kernel == .upstream2026 && life == .bugged && event.via != .vm
        default: return false
        }
    }

    func page(_ p: Placed) -> Page { files[p.file].pages[p.page] }
    func exists(_ p: Placed) -> Bool { !files[p.file].dropped.contains(p.page) }
    func tdPins(_ p: Placed) -> UInt32 { page(p).pins[.td] ?? 0 }
    func hostPinned(_ p: Placed) -> Bool {
        let pins = page(p).pins
        return (pins[.iommu] ?? 0) + (pins[.vfio] ?? 0) + (pins[.gup] ?? 0) > 0
    }

    /// Whose S-EPT removal fails: rfc-2025 any mapped td-pinned page; upstream-2026 a TD-held
    /// page (private, mapped, td-pinned).
    func removalFails(_ p: Placed, _ kernel: KernelProfile) -> Bool {
        let page = page(p)
        return page.mapped && tdPins(p) > 0 && (kernel == .rfc2025 || page.shareability == .private)
    }

    /// Applies `event` as seq `seq`; returns the expected outcome, the error offset, and the
    /// findings every rule raises on it (computed from the state before it).
    mutating func apply(_ event: Event, seq: Int64 = 0) -> (expected: String?, errorOffset: UInt64?, findings: [Found]) {
        var placed: [Placed] = []
        var start: UInt64 = 0
        var unplaced: [(String, UInt64)] = []  // unplaced addresses, page by page
        var unresolved = false
        if let range = event.op.range {
            switch range {
            case .file(let gmem, let offset, let size):
                start = offset
                if let i = index[gmem], files[i].open, offset + size <= files[i].size {
                    for k in 0..<Int(size / 4096) {
                        placed.append(Placed(file: i, page: Int(offset / 4096) + k, address: offset + UInt64(k) * 4096))
                    }
                } else {
                    unresolved = true
                    for k in 0..<(size / 4096) { unplaced.append((gmem, offset + k * 4096)) }
                }
            case .guest(let vmName, let gpa, let size):
                start = gpa
                let vm = vms[vmName]
                let sorted = (vm?.bindings.values.map { $0 } ?? []).sorted { ($0.gpa, $0.slot) < ($1.gpa, $1.slot) }
                var address = gpa
                while address < gpa + size {
                    if let b = sorted.first(where: { $0.gpa <= address && address < $0.gpa + $0.size }),
                        let i = index[b.gmem], files[i].open, (address - b.gpa + b.offset) / 4096 < files[i].pages.count
                    {
                        placed.append(Placed(file: i, page: Int((address - b.gpa + b.offset) / 4096), address: address))
                    } else {
                        unresolved = true
                        unplaced.append(("vm " + vmName, address))
                    }
                    address += 4096
                }
            }
        }
        // The VM the event acts on.
        var vmName: String?
        switch event.op {
        case .vmCreate(let vm, _, _), .vmDestroy(let vm), .vmBugged(let vm, _), .gmemCreate(let vm, _, _, _, _),
            .bind(let vm, _, _, _, _, _, _), .unbind(let vm, _), .convertRequest(let vm, _, _, _, _):
            vmName = vm
        case .gmemClose(let gmem): vmName = index[gmem].map { files[$0].vm }
        case .reuse, .mce, .context, .gap: vmName = nil
        default:
            switch event.op.range {
            case .guest(let vm, _, _)?: vmName = vm
            case .file(let gmem, _, _)?: vmName = index[gmem].map { files[$0].vm }
            case nil: vmName = nil
            }
        }
        let kernel: KernelProfile
        if case .vmCreate = event.op {
            kernel = override ?? event.kernel ?? .upstream2026
        } else {
            kernel = override ?? vmName.flatMap { vms[$0]?.kernel } ?? .upstream2026
        }
        let upstream = kernel == .upstream2026
        if case .gap = event.op {
            // A gap may have touched any page: every page of every open file.
            for (i, file) in files.enumerated() where file.open {
                for p in 0..<file.pages.count { placed.append(Placed(file: i, page: p, address: UInt64(p) * 4096)) }
            }
        }
        if case .vmDestroy(let name) = event.op, vms[name] != nil {
            placed = []
            for (i, file) in files.enumerated() where file.open && file.vm == name {
                for p in 0..<file.pages.count { placed.append(Placed(file: i, page: p, address: UInt64(p) * 4096)) }
            }
        }
        var blocked: [Placed] = []
        var errorOffset: UInt64?
        var refused = false
        /// A conversion that changes nothing returns early (upstream-2026).
        var early = false
        let expected: String? = {
            if let name = vmName, let vm = vms[name], vm.life != .alive, !Self.runs(event, on: vm.life, under: kernel) {
                if case .vmDestroy = event.op, vm.life == .bugged { return "ok" }
                if case .vmCreate = event.op { return "ok" }
                refused = true
                return "EIO"
            }
            /// The removal rule: blocked pages, and the outcome the op reports.
            func removal(reports: Bool) -> String {
                blocked = placed.filter { removalFails($0, kernel) }
                if blocked.isEmpty { return "ok" }
                return !upstream || reports ? "EIO" : "ok"
            }
            switch event.op {
            case .vmCreate, .vmBugged, .reuse, .mce, .context, .gap: return "ok"
            case .vmDestroy(let name):
                if vms[name] == nil { unresolved = true }
                return vms[name] == nil ? nil : "ok"
            case .gmemCreate(let name, _, _, _, _):
                if vms[name] == nil { unresolved = true }
                return "ok"
            case .gmemClose(let gmem):
                guard let i = index[gmem], files[i].open else {
                    unresolved = true
                    return nil
                }
                placed = (0..<files[i].pages.count).map { Placed(file: i, page: $0, address: UInt64($0) * 4096) }
                return upstream ? removal(reports: false) : "ok"
            case .bind(let name, let gmem, let slot, let gpa, let size, let offset, _):
                guard let vm = vms[name], let i = index[gmem], files[i].open else {
                    unresolved = true
                    return nil
                }
                if files[i].vm != name || offset + size > files[i].size { return "EINVAL" }
                for (s, b) in vm.bindings where s != slot && b.gpa < gpa + size && gpa < b.gpa + b.size { return "EEXIST" }
                for (otherName, other) in vms {
                    for b in other.bindings.values where b.gmem == gmem && !(otherName == name && b.slot == slot) {
                        if b.offset < offset + size && offset < b.offset + b.size { return "EEXIST" }
                    }
                }
                // A bind that works concerns the file pages it binds.
                placed = (0..<Int(size / 4096)).map { Placed(file: i, page: Int(offset / 4096) + $0, address: offset + UInt64($0) * 4096) }
                return "ok"
            case .unbind(let name, let slot):
                guard let vm = vms[name], let b = vm.bindings[slot], let i = index[b.gmem] else {
                    unresolved = true
                    return nil
                }
                placed = (0..<Int(b.size / 4096)).map { Placed(file: i, page: Int(b.offset / 4096) + $0, address: b.gpa + UInt64($0) * 4096) }
                    .filter { $0.page < files[i].pages.count && exists($0) }
                return removal(reports: false)
            default: break
            }
            guard !placed.isEmpty else { return nil }
            switch event.op {
            case .populate, .map, .pin, .convertRequest: return "ok"
            case .punchHole: return removal(reports: false)
            case .zap: return removal(reports: true)
            case .convert(_, let to):
                if to == .private, let p = placed.first(where: hostPinned) {
                    errorOffset = p.address
                    return "EAGAIN"
                }
                if upstream {
                    if placed.allSatisfy({ page($0).shareability == to }) {
                        early = true
                        return "ok"
                    }
                    // All shared to private: only shared mappings go, which never fail.
                    if to == .private, placed.allSatisfy({ page($0).shareability == .shared }) { return "ok" }
                }
                return removal(reports: false)
            case .accept: return placed.contains { page($0).accepted } ? "TDX_PAGE_ALREADY_ACCEPTED" : "ok"
            case .release(_, let holder):
                if placed.contains(where: { (page($0).pins[holder] ?? 0) == 0 }) {
                    return holder == .td ? "TDX_OPERAND_INVALID" : "EINVAL"
                }
                return "ok"
            case .hostAccess:
                if placed.contains(where: { !files[$0.file].mappable }) { return "ENODEV" }
                return placed.contains { page($0).shareability == .private } ? "SIGBUS" : "ok"
            default: return "ok"
            }
        }()
        let diverged: Bool = {
            guard let observed = event.result, let expected else { return false }
            if observed.uppercased() != expected.uppercased() { return true }
            if let offset = event.errorOffset, let errorOffset, offset != errorOffset { return true }
            return false
        }()
        let findings = rules(
            event, placed: placed, unplaced: unresolved ? unplaced : nil, unresolved: unresolved, vmName: vmName, kernel: kernel,
            expected: expected, diverged: diverged, refused: refused, blocked: blocked, early: early)

        guard let effective = event.result ?? expected else { return (expected, errorOffset, findings) }
        let ok = effective.lowercased() == "ok"
        let eio = effective.uppercased() == "EIO"
        if refused && !ok && upstream { return (expected, errorOffset, findings) }
        /// Upstream-2026 removals go on past failures; an observed failure is applied the old way.
        let stops = !upstream || !ok

        /// The old zap rule's state change (rfc-2025, and an observed EIO under upstream-2026).
        func zap(_ succeeded: Bool, _ failed: Bool, blocking: [Placed]) {
            if succeeded {
                for p in placed {
                    files[p.file].pages[p.page].mapped = false
                    files[p.file].pages[p.page].accepted = false
                    files[p.file].pages[p.page].quarantined = false
                    files[p.file].memory[p.page] = Memory()
                }
            } else if failed {
                // The failure stands on the pages the removal refused.
                for p in placed where removalFails(p, kernel) { files[p.file].memory[p.page].failure = "td" }
                if let name = vmName, vms[name]?.life == .alive {
                    vms[name]!.life = .bugged
                } else if blocking.isEmpty {
                    return
                }
                for p in blocking { files[p.file].pages[p.page].quarantined = true }
            }
        }
        /// An upstream-2026 removal: every page unmapped and un-accepted, failures forgotten (no
        /// mapping is left to meet again); when `failed`, the VM bugged and the blocked pages
        /// quarantined.
        func remove(failed: Bool) {
            for p in placed {
                files[p.file].pages[p.page].mapped = false
                files[p.file].pages[p.page].accepted = false
                files[p.file].memory[p.page].failure = nil
            }
            guard failed else { return }
            if let name = vmName, vms[name]?.life == .alive { vms[name]!.life = .bugged }
            for p in blocked { files[p.file].pages[p.page].quarantined = true }
        }
        func freeFrame(_ p: Placed) {
            let page = files[p.file].pages[p.page]
            if page.populated, let pfn = page.pfn, frames[pfn] == Placed(file: p.file, page: p.page, address: 0) {
                frames[pfn] = nil
            }
        }
        switch event.op {
        case .vmCreate(let name, _, let tdx):
            if ok { vms[name] = VM(tdxConnect: tdx, kernel: kernel) }
        case .vmDestroy(let name):
            guard ok, vms[name] != nil else { break }
            vms[name]!.life = .destroyed
            vms[name]!.bindings = [:]
            for p in placed {
                files[p.file].pages[p.page].mapped = false
                files[p.file].pages[p.page].accepted = false
                if !upstream, files[p.file].pages[p.page].quarantined { files[p.file].memory[p.page].exited = true }
            }
            if upstream {
                // The teardown reclaims the VM's frames: quarantine ends, in open and closed files.
                for i in files.indices where files[i].vm == name {
                    for n in files[i].pages.indices where !files[i].dropped.contains(n) {
                        files[i].memory[n].exited = false
                        guard files[i].pages[n].quarantined else { continue }
                        files[i].pages[n].quarantined = false
                        if !files[i].pages[n].populated, let pfn = files[i].pages[n].pfn {
                            if frames[pfn] == Placed(file: i, page: n, address: 0) { frames[pfn] = nil }
                            files[i].pages[n].pfn = nil
                        }
                    }
                }
            }
        case .vmBugged(let name, _):
            if ok, vms[name]?.life == .alive { vms[name]!.life = .bugged }
        case .gmemCreate(let vm, let gmem, let size, let flags, _):
            guard ok else { break }
            let page = Page(shareability: flags.contains("init_shared") ? .shared : .private)
            let count = Int(size / 4096)
            files.append(File(
                name: gmem, vm: vm, size: size, mappable: flags.contains("mmap"), pages: Array(repeating: page, count: count),
                memory: Array(repeating: Memory(), count: count)))
            index[gmem] = files.count - 1
        case .gmemClose:
            guard ok, let first = placed.first else { break }
            let wasQuarantined = Set(placed.filter { page($0).quarantined }.map(\.page))
            if upstream { remove(failed: !blocked.isEmpty) }
            files[first.file].open = false
            for p in placed {
                if wasQuarantined.contains(p.page) || (upstream && blocked.contains(p)) { files[p.file].memory[p.page].exited = true }
                let page = files[p.file].pages[p.page]
                if page.pins.values.allSatisfy({ $0 == 0 }) && !page.quarantined {
                    freeFrame(p)
                    files[p.file].dropped.insert(p.page)
                }
            }
        case .bind(let name, let gmem, let slot, let gpa, let size, let offset, let hva):
            if ok, vms[name] != nil { vms[name]!.bindings[slot] = Binding(slot: slot, gmem: gmem, gpa: gpa, size: size, offset: offset, hva: hva) }
        case .unbind(let name, let slot):
            guard ok || eio else { break }
            if stops { zap(ok, eio, blocking: blocked) } else { remove(failed: !blocked.isEmpty) }
            vms[name]?.bindings[slot] = nil
        case .punchHole:
            if stops { zap(ok, eio, blocking: blocked) } else { remove(failed: !blocked.isEmpty) }
            if ok {
                // The folios are freed; a quarantined page's frame stays with the TDX module.
                for p in placed {
                    if !files[p.file].pages[p.page].quarantined {
                        freeFrame(p)
                        files[p.file].pages[p.page].pfn = nil
                    }
                    files[p.file].pages[p.page].populated = false
                }
            }
        case .zap:
            if !upstream {
                zap(ok, eio, blocking: blocked)
            } else if ok || eio {
                remove(failed: eio)
            }
        case .convert(_, let to):
            if stops {
                // An observed EIO names the pages the TD holds even where no removal was attempted.
                let blocking = eio && blocked.isEmpty && !refused && upstream ? placed.filter { removalFails($0, kernel) } : blocked
                zap(false, eio, blocking: blocking)
            }
            if !ok, effective.uppercased() == "EAGAIN" {
                for p in placed where hostPinned(p) { files[p.file].memory[p.page].failure = "host" }
            }
            guard ok else { break }
            let request: ConversionRequest = to == .shared ? .shared : .private
            if upstream && placed.allSatisfy({ page($0).shareability == to }) {
                for p in placed where files[p.file].pages[p.page].requested == request { files[p.file].pages[p.page].requested = .none }
                break
            }
            if !stops { remove(failed: !blocked.isEmpty) }
            for p in placed {
                var page = files[p.file].pages[p.page]
                page.shareability = to
                page.mapped = false
                page.accepted = false
                if !upstream { page.quarantined = false }
                if page.requested == request { page.requested = .none }
                files[p.file].pages[p.page] = page
                files[p.file].memory[p.page].failure = nil
            }
        case .populate(_, let pfn):
            guard ok else { break }
            for p in placed {
                freeFrame(p)
                files[p.file].pages[p.page].populated = true
                if let pfn {
                    let frame = pfn &+ (p.address - start) / 4096
                    files[p.file].pages[p.page].pfn = frame
                    frames[frame] = Placed(file: p.file, page: p.page, address: 0)
                } else {
                    files[p.file].pages[p.page].pfn = nil
                }
            }
        case .map:
            if ok { for p in placed { files[p.file].pages[p.page].mapped = true } }
        case .convertRequest(_, _, _, let to, _):
            if ok { for p in placed { files[p.file].pages[p.page].requested = to == .shared ? .shared : .private } }
        case .accept:
            guard ok else { break }
            let tdx = vmName.flatMap { vms[$0] }?.tdxConnect ?? false
            for p in placed {
                files[p.file].pages[p.page].accepted = true
                if tdx { files[p.file].pages[p.page].pins[.td, default: 0] += 1 }
            }
        case .pin(_, let holder):
            if ok { for p in placed { files[p.file].pages[p.page].pins[holder, default: 0] += 1 } }
        case .release(_, let holder):
            guard ok else { break }
            for p in placed {
                let count = files[p.file].pages[p.page].pins[holder] ?? 0
                files[p.file].pages[p.page].pins[holder] = count > 0 ? count - 1 : 0
                if holder == .td { files[p.file].pages[p.page].accepted = false }
                // A release ends the failure its holder caused.
                let failure = files[p.file].memory[p.page].failure
                if failure == (holder == .td ? "td" : "host") { files[p.file].memory[p.page].failure = nil }
            }
        case .reuse(let pfn, let npages, let owner):
            if ok { for f in pfn..<(pfn + npages) { reused[f] = owner ?? "unknown" } }
        case .hostAccess, .mce, .context, .gap:
            break
        }
        if case .gap = event.op {
            for name in vms.keys where vms[name]!.life != .destroyed && vms[name]!.untrustedSince == nil { vms[name]!.untrustedSince = seq }
            for i in files.indices where files[i].open && files[i].untrustedSince == nil { files[i].untrustedSince = seq }
        }
        return (expected, errorOffset, findings)
    }

    /// The findings of POLICIES.md's rules on `event`, from the state before it.
    func rules(
        _ event: Event, placed: [Placed], unplaced: [(String, UInt64)]?, unresolved: Bool, vmName: String?, kernel: KernelProfile,
        expected: String?, diverged: Bool, refused: Bool, blocked: [Placed], early: Bool
    ) -> [Found] {
        var found: [Found] = []
        let effective = event.result ?? expected
        let succeeded = effective?.lowercased() == "ok"
        let observedOK = event.result?.lowercased() == "ok"
        // The pages a rule looks at; an unbind its dead VM refused still names its binding's pages.
        var concerned = placed
        if concerned.isEmpty, case .unbind(let vm, let slot) = event.op, let b = vms[vm]?.bindings[slot], let i = index[b.gmem] {
            concerned = (0..<Int(b.size / 4096)).map { Placed(file: i, page: Int(b.offset / 4096) + $0, address: 0) }
                .filter { $0.page < files[i].pages.count }
        }
        concerned = concerned.filter(exists)
        /// Most rules fire only on pages they concern; GM-R09 and GM-R11 are about the event
        /// itself and fire also when it placed none.
        func fire(_ rule: String, _ pages: [Placed], severity: Severity? = nil, evenWithoutPages: Bool = false) {
            guard !pages.isEmpty || evenWithoutPages else { return }
            let rule = RuleCatalog.rule(rule)!
            found.append(Found(
                rule: rule.id, severity: severity ?? rule.defaultSeverity,
                pages: Set(pages.map { "\(files[$0.file].name)@\($0.page)" }), unplaced: []))
        }
        func pagesBacked(_ pfn: UInt64, _ npages: UInt64) -> [Placed] {
            let (end, overflow) = pfn.addingReportingOverflow(npages)
            return frames.filter { $0.key >= pfn && (overflow || $0.key < end) }.map(\.value).filter(exists)
        }
        let dead = vmName.flatMap { vms[$0] }.map { $0.life != .alive } ?? false
        switch event.op {
        case .convertRequest(_, _, _, .shared, _), .convert(_, .shared):
            fire("GM-R01", concerned.filter { tdPins($0) > 0 })
        default: break
        }
        if kernel == .rfc2025 {
            switch event.op {
            case .zap, .punchHole, .unbind, .convert(_, .shared): fire("GM-R02", concerned.filter { removalFails($0, kernel) })
            default: break
            }
        } else {
            fire("GM-R02", blocked)
        }
        let retryMeetsHost: Bool?
        switch event.op {
        case .zap, .convert(_, .shared): retryMeetsHost = false
        case .convert(_, .private): retryMeetsHost = true
        default: retryMeetsHost = nil
        }
        if let retryMeetsHost {
            fire("GM-R03", concerned.filter {
                let failure = files[$0.file].memory[$0.page].failure
                return failure == "td" || (failure == "host" && retryMeetsHost)
            })
        }
        let unmapsPrivate: Bool
        switch event.op {
        case .zap(_, let reason): unmapsPrivate = reason != "teardown"
        case .punchHole, .convert(_, .shared): unmapsPrivate = true
        default: unmapsPrivate = false
        }
        if unmapsPrivate, succeeded, !dead {
            fire("GM-R04", concerned.filter { page($0).shareability == .private && page($0).mapped && page($0).requested != .shared })
        }
        if case .reuse(let pfn, let npages, _) = event.op {
            let backed = pagesBacked(pfn, npages)
            fire("GM-R05", backed.filter { tdPins($0) > 0 || page($0).quarantined || page($0).mapped })
            fire("GM-R14", backed.filter { page($0).quarantined && files[$0.file].memory[$0.page].exited })
        }
        if case .convert(_, .private) = event.op {
            fire("GM-R06", concerned.filter(hostPinned))
        }
        if case .hostAccess = event.op {
            fire("GM-R07", concerned.filter { page($0).shareability == .private || page($0).quarantined }, severity: observedOK ? .critical : nil)
        }
        switch event.op {
        case .vmDestroy, .gmemClose:
            if succeeded { fire("GM-R08", concerned.filter { page($0).pins.values.contains { $0 > 0 } }) }
        case .release(_, let holder) where holder != .td:
            fire("GM-R08", concerned.filter { (page($0).pins[holder] ?? 0) == 0 })
        default: break
        }
        if observedOK, let name = vmName, let vm = vms[name], vm.life != .alive {
            var exempt = Self.runs(event, on: vm.life, under: kernel)
            if case .vmCreate = event.op { exempt = true }
            if case .vmDestroy = event.op, vm.life == .bugged { exempt = true }
            if !exempt { fire("GM-R09", concerned, evenWithoutPages: true) }
        }
        switch event.op {
        case .pin(_, let holder) where holder == .iommu || holder == .vfio:
            fire("GM-R10", concerned.filter { page($0).shareability == .private })
        case .convert(_, .private):
            fire("GM-R10", concerned.filter { (page($0).pins[.iommu] ?? 0) + (page($0).pins[.vfio] ?? 0) > 0 })
        default: break
        }
        if diverged { fire("GM-R11", concerned, evenWithoutPages: true) }
        switch event.op {
        case .accept: fire("GM-R12", concerned.filter { page($0).accepted })
        case .release(_, .td): fire("GM-R12", concerned.filter { tdPins($0) == 0 })
        default: break
        }
        if case .gap = event.op { fire("GM-R15", concerned, evenWithoutPages: true) }
        if unresolved {
            var ranges: [String] = []
            var last: (String, UInt64, UInt64)?
            for (key, address) in unplaced ?? [] {
                if let current = last, current.0 == key, current.2 == address {
                    last = (key, current.1, address + 4096)
                } else {
                    if let current = last { ranges.append("\(current.0) \(current.1)-\(current.2)") }
                    last = (key, address, address + 4096)
                }
            }
            if let current = last { ranges.append("\(current.0) \(current.1)-\(current.2)") }
            found.append(Found(rule: "GM-R13", severity: .warning, pages: [], unplaced: ranges))
        }
        return found.sorted { $0.rule < $1.rule }
    }
}
