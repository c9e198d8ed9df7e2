/// The VMs and gmem files the latest events named, with what judging an event reads of each:
/// a handful of entries searched by comparing names, so that the engine finds an event's VM and
/// file without hashing a name into `GmemState.vms` or `GmemState.fileIndex` (two or three
/// lookups an event, each a full `Hasher` run over the name).
///
/// Derived, never authoritative: every entry is a copy of what the dictionaries hold, refreshed
/// from them whenever they change (`GmemState`'s observers), and a name the entries do not hold
/// is looked up in the dictionaries as before. A name is first compared with the kept ones by
/// its two words (`NameBits`): equal words are the same string (the same small-string bytes,
/// or the same storage, which the entry keeps alive); only when no entry has them are the names
/// compared as the dictionaries compare their keys (`String ==`, after the UTF-8 lengths), so a
/// hit gives what the dictionary would. Two states that differ only here are equal.
struct RecentNames: Equatable, Sendable {
    /// At most this many VMs and this many files are kept (the generator runs 4 VMs at a time).
    static let capacity = 8

    /// A gmem name and its current file (`fileIndex[name]`).
    struct File: Sendable {
        var name: String
        var bits: NameBits
        var index: Int

        init(name: String, index: Int) {
            self.name = name
            bits = NameBits(name)
            self.index = index
        }
    }

    /// A VM's name and what the engine reads of it per event (`vms[name]`).
    struct VM: Sendable {
        var name: String
        var bits: NameBits
        var life: VMLife
        var kernel: KernelProfile
        var tdxConnect: Bool
        var bindingsByAddress: [Binding]

        init(name: String, _ vm: VirtualMachine) {
            self.name = name
            bits = NameBits(name)
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

    /// Equal names (`==`), tested only when their UTF-8 lengths agree.
    static func sameName(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a == b
    }

    /// The position of the file entry named `name`, nil when none is kept.
    @inline(__always)
    func filePosition(_ name: String) -> Int? {
        let bits = NameBits(name)
        for position in files.indices where files[position].bits == bits { return position }
        return filePosition(comparing: name)
    }

    /// The position of the VM entry named `name`, nil when none is kept.
    @inline(__always)
    func vmPosition(_ name: String) -> Int? {
        let bits = NameBits(name)
        for position in vms.indices where vms[position].bits == bits { return position }
        return vmPosition(comparing: name)
    }

    /// `filePosition` for a name whose words no entry has (another copy of a long name).
    private func filePosition(comparing name: String) -> Int? {
        files.firstIndex { Self.sameName($0.name, name) }
    }

    /// `vmPosition` for a name whose words no entry has.
    private func vmPosition(comparing name: String) -> Int? {
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

/// The two words a `String` is made of: its bytes when it is small (up to 15 UTF-8 bytes,
/// stored in the value), else its length, flags and the address of its storage. Equal words
/// are the same string; unequal words say nothing (two copies of a long name differ).
struct NameBits: Equatable, Sendable {
    private var low: UInt64
    private var high: UInt64

    @inline(__always)
    init(_ name: String) {
        (low, high) = unsafeBitCast(name, to: (UInt64, UInt64).self)
    }
}

extension GmemState {
    /// `fileIndex[gmem]`, from the recent names when they hold it.
    @inline(__always)
    func currentFileIndex(_ gmem: String) -> Int? {
        if let position = recent.filePosition(gmem) { return recent.files[position].index }
        return fileIndex[gmem]
    }

    /// `currentFileIndex(gmem)`; `isRecent` says whether the recent names held it.
    @inline(__always)
    func currentFileIndex(_ gmem: String, isRecent: inout Bool) -> Int? {
        if let position = recent.filePosition(gmem) {
            isRecent = true
            return recent.files[position].index
        }
        isRecent = false
        return fileIndex[gmem]
    }

    /// Keeps among the recent names the VM named `vm` and the file at `fileIndex`, when they are
    /// not yet: the engine calls it as it applies an event, so that the next event naming them
    /// finds them without hashing. A VM the state does not hold, or a file that is not the
    /// current one of its name, is not kept.
    mutating func rememberNames(vm: String?, file: Int?) {
        if let file {
            let name = files[file].name
            if recent.filePosition(name) == nil, fileIndex[name] == file { recent.admitFile(name, index: file) }
        }
        if let vm, recent.vmPosition(vm) == nil, let machine = vms[vm] {
            recent.admitVM(vm, machine)
        }
    }
}
