/// The VMs and gmem files the latest events named, with what judging an event reads of each:
/// a handful of entries searched by comparing names, so that the engine finds an event's VM and
/// file without hashing a name into `GmemState.vms` or `GmemState.fileIndex` (two or three
/// lookups an event, each a full `Hasher` run over the name).
///
/// Derived, never authoritative: every entry is a copy of what the dictionaries hold, refreshed
/// from them whenever they change (`GmemState`'s observers), and a name the entries do not hold
/// is looked up in the dictionaries as before. Names are compared as the dictionaries compare
/// their keys (`String ==`), after their UTF-8 lengths: names of another length cost no
/// comparison (a name equal to a kept one only under Unicode's canonical equivalence, with
/// other bytes, may then miss and take the dictionary, which finds it). Two states that differ
/// only here are equal.
struct RecentNames: Equatable, Sendable {
    /// At most this many VMs and this many files are kept (the generator runs 4 VMs at a time).
    static let capacity = 8

    /// A gmem name and its current file (`fileIndex[name]`).
    struct File: Sendable {
        var name: String
        var index: Int
    }

    /// A VM's name and what the engine reads of it per event (`vms[name]`).
    struct VM: Sendable {
        var name: String
        var life: VMLife
        var kernel: KernelProfile
        var tdxConnect: Bool
        var bindingsByAddress: [Binding]

        init(name: String, _ vm: VirtualMachine) {
            self.name = name
            life = vm.life
            kernel = vm.kernel
            tdxConnect = vm.tdxConnect
            bindingsByAddress = vm.bindingsByAddress
        }
    }

    private(set) var files: [File] = []
    private(set) var vms: [VM] = []
    /// The entry the next admission replaces once the list is full (round robin).
    private var nextFileVictim = 0
    private var nextVMVictim = 0

    /// Derived state compares equal whatever it holds.
    static func == (lhs: RecentNames, rhs: RecentNames) -> Bool { true }

    /// Equal names (`==`), tested only when their UTF-8 lengths agree: a name of the same
    /// storage or the same small-string bits is equal at once.
    @inline(__always)
    static func sameName(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a == b
    }

    /// The position of the file entry named `name`, nil when none is kept.
    func filePosition(_ name: String) -> Int? {
        files.firstIndex { Self.sameName($0.name, name) }
    }

    /// The position of the VM entry named `name`, nil when none is kept.
    func vmPosition(_ name: String) -> Int? {
        vms.firstIndex { Self.sameName($0.name, name) }
    }

    /// Keeps `name` → `index` (which must be `fileIndex[name]`).
    mutating func admitFile(_ name: String, index: Int) {
        if let position = filePosition(name) {
            files[position].index = index
        } else if files.count < Self.capacity {
            files.append(File(name: name, index: index))
        } else {
            files[nextFileVictim] = File(name: name, index: index)
            nextFileVictim = (nextFileVictim + 1) % Self.capacity
        }
    }

    /// Keeps `vm`'s facts under `name` (which must be `vms[name]`).
    mutating func admitVM(_ name: String, _ vm: VirtualMachine) {
        let entry = VM(name: name, vm)
        if let position = vmPosition(name) {
            vms[position] = entry
        } else if vms.count < Self.capacity {
            vms.append(entry)
        } else {
            vms[nextVMVictim] = entry
            nextVMVictim = (nextVMVictim + 1) % Self.capacity
        }
    }

    /// Brings every file entry back to what `fileIndex` says (an entry whose name left it goes).
    mutating func refreshFiles(from fileIndex: [String: Int]) {
        guard !files.isEmpty else { return }
        files = files.compactMap { entry in fileIndex[entry.name].map { File(name: entry.name, index: $0) } }
        nextFileVictim = 0
    }

    /// Brings every VM entry back to what `vms` says (an entry whose name left it goes).
    mutating func refreshVMs(from machines: [String: VirtualMachine]) {
        guard !vms.isEmpty else { return }
        vms = vms.compactMap { entry in machines[entry.name].map { VM(name: entry.name, $0) } }
        nextVMVictim = 0
    }
}

extension GmemState {
    /// `fileIndex[gmem]`, from the recent names when they hold it.
    @inline(__always)
    func currentFileIndex(_ gmem: String) -> Int? {
        if let position = recent.filePosition(gmem) { return recent.files[position].index }
        return fileIndex[gmem]
    }

    /// Keeps the names `gmem` (its current file) and `vm` among the recent ones when they are
    /// not yet: the engine calls it as it applies an event, so the next event naming them finds
    /// them without hashing. A name the dictionaries do not hold is not kept.
    mutating func rememberNames(vm: String?, gmem: String?) {
        if let gmem, recent.filePosition(gmem) == nil, let index = fileIndex[gmem] {
            recent.admitFile(gmem, index: index)
        }
        if let vm, recent.vmPosition(vm) == nil, let machine = vms[vm] {
            recent.admitVM(vm, machine)
        }
    }
}
