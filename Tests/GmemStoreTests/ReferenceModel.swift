@testable import GmemStore

/// A deliberately simple model of docs/MODEL.md: one dictionary entry per page, every rule
/// applied page by page. Slow and obviously right; the range engine must agree with it on
/// every prefix of every log.
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

    struct File {
        var name: String
        var vm: String
        var size: UInt64
        var mappable: Bool
        var open = true
        var pages: [Page]
        /// Pages a close let go of (neither pinned nor quarantined): they no longer exist.
        var dropped: Set<Int> = []
    }

    struct VM {
        var tdxConnect: Bool
        var life = VMLife.alive
        var bindings: [UInt64: Binding] = [:]
    }

    /// One placed page: the file, the page in it, the event-addressed address.
    struct Placed: Equatable {
        var file: Int
        var page: Int
        var address: UInt64
    }

    var vms: [String: VM] = [:]
    var files: [File] = []
    var index: [String: Int] = [:]
    var frames: [UInt64: Placed] = [:]  // address unused (0)
    var reused: [UInt64: String] = [:]

    /// Applies `event`; returns the expected outcome and error offset.
    mutating func apply(_ event: Event) -> (expected: String?, errorOffset: UInt64?) {
        var placed: [Placed] = []
        var start: UInt64 = 0
        if let range = event.op.range {
            switch range {
            case .file(let gmem, let offset, let size):
                start = offset
                if let i = index[gmem], files[i].open, offset + size <= files[i].size {
                    for k in 0..<Int(size / 4096) {
                        placed.append(Placed(file: i, page: Int(offset / 4096) + k, address: offset + UInt64(k) * 4096))
                    }
                }
            case .guest(let vmName, let gpa, let size):
                start = gpa
                if let vm = vms[vmName] {
                    let sorted = vm.bindings.values.sorted { ($0.gpa, $0.slot) < ($1.gpa, $1.slot) }
                    var address = gpa
                    while address < gpa + size {
                        if let b = sorted.first(where: { $0.gpa <= address && address < $0.gpa + $0.size }),
                            let i = index[b.gmem], files[i].open, (address - b.gpa + b.offset) / 4096 < files[i].pages.count
                        {
                            placed.append(Placed(file: i, page: Int((address - b.gpa + b.offset) / 4096), address: address))
                        }
                        address += 4096
                    }
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
        case .reuse, .mce, .context: vmName = nil
        default:
            switch event.op.range {
            case .guest(let vm, _, _)?: vmName = vm
            case .file(let gmem, _, _)?: vmName = index[gmem].map { files[$0].vm }
            case nil: vmName = nil
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
        let expected: String? = {
            if let name = vmName, let vm = vms[name], vm.life != .alive {
                var exempt = false
                switch event.op {
                case .punchHole, .gmemClose, .populate, .hostAccess, .vmBugged, .mce, .reuse, .context: exempt = true
                case .release(_, let holder): exempt = holder != .td
                case .zap(_, let reason): exempt = reason == "teardown"
                default: break
                }
                if !exempt {
                    if case .vmDestroy = event.op, vm.life == .bugged { return "ok" }
                    if case .vmCreate = event.op { return "ok" }
                    return "EIO"
                }
            }
            func zapRule() -> String {
                blocked = placed.filter { files[$0.file].pages[$0.page].mapped && (files[$0.file].pages[$0.page].pins[.td] ?? 0) > 0 }
                return blocked.isEmpty ? "ok" : "EIO"
            }
            switch event.op {
            case .vmCreate, .vmBugged, .reuse, .mce, .context: return "ok"
            case .vmDestroy(let name): return vms[name] == nil ? nil : "ok"
            case .gmemCreate: return "ok"
            case .gmemClose(let gmem):
                guard let i = index[gmem], files[i].open else { return nil }
                placed = (0..<files[i].pages.count).map { Placed(file: i, page: $0, address: UInt64($0) * 4096) }
                return "ok"
            case .bind(let name, let gmem, let slot, let gpa, let size, let offset, _):
                guard let vm = vms[name], let i = index[gmem], files[i].open else { return nil }
                if files[i].vm != name || offset + size > files[i].size { return "EINVAL" }
                for (s, b) in vm.bindings where s != slot && b.gpa < gpa + size && gpa < b.gpa + b.size { return "EEXIST" }
                for (otherName, other) in vms {
                    for b in other.bindings.values where b.gmem == gmem && !(otherName == name && b.slot == slot) {
                        if b.offset < offset + size && offset < b.offset + b.size { return "EEXIST" }
                    }
                }
                return "ok"
            case .unbind(let name, let slot):
                guard let vm = vms[name], let b = vm.bindings[slot], let i = index[b.gmem] else { return nil }
                placed = (0..<Int(b.size / 4096)).map { Placed(file: i, page: Int(b.offset / 4096) + $0, address: b.gpa + UInt64($0) * 4096) }
                    .filter { $0.page < files[i].pages.count }
                return zapRule()
            default: break
            }
            guard !placed.isEmpty else { return nil }
            switch event.op {
            case .populate, .map, .pin, .convertRequest: return "ok"
            case .punchHole, .zap: return zapRule()
            case .convert(_, let to):
                if to == .private, let p = placed.first(where: { let pins = files[$0.file].pages[$0.page].pins; return (pins[.iommu] ?? 0) + (pins[.vfio] ?? 0) + (pins[.gup] ?? 0) > 0 }) {
                    errorOffset = p.address
                    return "EAGAIN"
                }
                return zapRule()
            case .accept: return placed.contains { files[$0.file].pages[$0.page].accepted } ? "TDX_PAGE_ALREADY_ACCEPTED" : "ok"
            case .release(_, let holder):
                if placed.contains(where: { (files[$0.file].pages[$0.page].pins[holder] ?? 0) == 0 }) {
                    return holder == .td ? "TDX_OPERAND_INVALID" : "EINVAL"
                }
                return "ok"
            case .hostAccess:
                if placed.contains(where: { !files[$0.file].mappable }) { return "ENODEV" }
                return placed.contains { files[$0.file].pages[$0.page].shareability == .private } ? "SIGBUS" : "ok"
            default: return "ok"
            }
        }()
        guard let effective = event.result ?? expected else { return (expected, errorOffset) }
        let ok = effective.lowercased() == "ok"
        let eio = effective.uppercased() == "EIO"

        func zap(_ succeeded: Bool, _ failed: Bool) {
            if succeeded {
                for p in placed {
                    files[p.file].pages[p.page].mapped = false
                    files[p.file].pages[p.page].accepted = false
                    files[p.file].pages[p.page].quarantined = false
                }
            } else if failed {
                if let name = vmName, vms[name]?.life == .alive {
                    vms[name]!.life = .bugged
                } else if blocked.isEmpty {
                    return
                }
                for p in blocked { files[p.file].pages[p.page].quarantined = true }
            }
        }
        func freeFrame(_ p: Placed) {
            let page = files[p.file].pages[p.page]
            if page.populated, let pfn = page.pfn, frames[pfn] == Placed(file: p.file, page: p.page, address: 0) {
                frames[pfn] = nil
            }
        }
        switch event.op {
        case .vmCreate(let name, _, let tdx):
            if ok { vms[name] = VM(tdxConnect: tdx) }
        case .vmDestroy(let name):
            guard ok, vms[name] != nil else { break }
            vms[name]!.life = .destroyed
            vms[name]!.bindings = [:]
            for p in placed {
                files[p.file].pages[p.page].mapped = false
                files[p.file].pages[p.page].accepted = false
            }
        case .vmBugged(let name, _):
            if ok, vms[name]?.life == .alive { vms[name]!.life = .bugged }
        case .gmemCreate(let vm, let gmem, let size, let flags, _):
            guard ok else { break }
            let page = Page(shareability: flags.contains("init_shared") ? .shared : .private)
            files.append(File(name: gmem, vm: vm, size: size, mappable: flags.contains("mmap"), pages: Array(repeating: page, count: Int(size / 4096))))
            index[gmem] = files.count - 1
        case .gmemClose:
            guard ok, let first = placed.first else { break }
            files[first.file].open = false
            for p in placed {
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
            zap(ok, eio)
            vms[name]?.bindings[slot] = nil
        case .punchHole:
            zap(ok, eio)
            if ok {
                for p in placed {
                    freeFrame(p)
                    files[p.file].pages[p.page].populated = false
                    files[p.file].pages[p.page].pfn = nil
                }
            }
        case .zap:
            zap(ok, eio)
        case .convert(_, let to):
            zap(false, eio)
            guard ok else { break }
            for p in placed {
                var page = files[p.file].pages[p.page]
                page.shareability = to
                page.mapped = false
                page.accepted = false
                page.quarantined = false
                if page.requested.rawValue == to.rawValue { page.requested = .none }
                files[p.file].pages[p.page] = page
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
            }
        case .reuse(let pfn, let npages, let owner):
            if ok { for f in pfn..<(pfn + npages) { reused[f] = owner ?? "unknown" } }
        case .hostAccess, .mce, .context:
            break
        }
        return (expected, errorOffset)
    }
}
