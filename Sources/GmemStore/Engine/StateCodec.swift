/// A compact, deterministic binary form of `GmemState` for snapshots: equal states give equal
/// bytes, so `verify` can compare a stored snapshot with a replay byte for byte.
public enum StateCodec {
    static let magic: [UInt8] = Array("GMS1".utf8)

    /// Why a snapshot could not be read.
    public struct DecodingError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func encode(_ state: GmemState) -> [UInt8] {
        var out = ByteWriter()
        out.bytes.append(contentsOf: magic)
        let vms = state.vms.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        out.varint(UInt64(vms.count))
        for (name, vm) in vms {
            out.string(name)
            out.string(vm.type)
            out.byte(vm.tdxConnect ? 1 : 0)
            // The low bits are the life, bit 4 the kernel profile (0: upstream-2026), so that a
            // snapshot written before profiles existed decodes with the profile its log's
            // vm_create (which names none) replays with.
            // Bit 5: an evidence-gap mark follows (a state without one encodes as before gaps existed).
            out.byte((vm.life == .alive ? 0 : vm.life == .bugged ? 1 : 2) | (vm.kernel == .rfc2025 ? 0x10 : 0) | (vm.untrustedSince != nil ? 0x20 : 0))
            if let since = vm.untrustedSince { out.varint(UInt64(bitPattern: since)) }
            let bindings = vm.bindings.values.sorted { $0.slot < $1.slot }
            out.varint(UInt64(bindings.count))
            for binding in bindings {
                out.varint(binding.slot)
                out.string(binding.gmem)
                out.varint(binding.gpa)
                out.varint(binding.size)
                out.varint(binding.offset)
                out.optional(binding.hva)
            }
        }
        out.varint(UInt64(state.files.count))
        for file in state.files {
            out.string(file.name)
            out.string(file.vm)
            out.varint(file.size)
            out.varint(UInt64(file.flags.count))
            for flag in file.flags { out.string(flag) }
            out.varint(file.folioSize)
            // Bit 1: an evidence-gap mark follows.
            out.byte((file.isOpen ? 1 : 0) | (file.untrustedSince != nil ? 2 : 0))
            if let since = file.untrustedSince { out.varint(UInt64(bitPattern: since)) }
            let runs = file.pages.runs
            out.varint(UInt64(runs.count))
            for run in runs {
                out.varint(run.lower)
                out.varint(run.upper - run.lower)
                encode(run.value, into: &out)
            }
        }
        let index = state.fileIndex.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        out.varint(UInt64(index.count))
        for (name, position) in index {
            out.string(name)
            out.varint(UInt64(position))
        }
        let frames = state.frames.runs
        out.varint(UInt64(frames.count))
        for run in frames {
            out.varint(run.lower)
            out.varint(run.upper - run.lower)
            out.varint(UInt64(run.value.file))
            out.varint(UInt64(bitPattern: run.value.pageDelta))
        }
        let reused = state.reusedFrames.runs
        out.varint(UInt64(reused.count))
        for run in reused {
            out.varint(run.lower)
            out.varint(run.upper - run.lower)
            out.string(run.value)
        }
        return out.bytes
    }

    private static func encode(_ page: PageState, into out: inout ByteWriter) {
        var flags: UInt8 = page.shareability == .private ? 1 : 0
        if page.populated { flags |= 2 }
        if page.mapped { flags |= 4 }
        if page.accepted { flags |= 8 }
        if page.quarantined { flags |= 16 }
        if page.frameDelta != nil { flags |= 32 }
        out.byte(flags)
        out.byte(page.requested == .none ? 0 : page.requested == .shared ? 1 : 2)
        for holder in Holder.allCases { out.varint(UInt64(page.pins[holder])) }
        if let delta = page.frameDelta { out.varint(UInt64(bitPattern: delta)) }
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodingError) -> GmemState {
        var input = ByteReader(bytes: bytes)
        guard bytes.count >= 4, Array(bytes[0..<4]) == magic else {
            throw DecodingError(description: "not a gmem state snapshot")
        }
        input.position = 4
        var state = GmemState()
        for _ in 0..<(try input.count()) {
            let name = try input.string()
            var vm = VirtualMachine(type: try input.string(), tdxConnect: try input.byte() == 1)
            let life = try input.byte()
            vm.kernel = life & 0x10 != 0 ? .rfc2025 : .upstream2026
            switch life & 0x0F {
            case 0: vm.life = .alive
            case 1: vm.life = .bugged
            default: vm.life = .destroyed
            }
            if life & 0x20 != 0 { vm.untrustedSince = Int64(bitPattern: try input.varint()) }
            for _ in 0..<(try input.count()) {
                let binding = Binding(
                    slot: try input.varint(), gmem: try input.string(), gpa: try input.varint(),
                    size: try input.varint(), offset: try input.varint(), hva: try input.optional())
                vm.bindings[binding.slot] = binding
            }
            state.vms[name] = vm
        }
        for _ in 0..<(try input.count()) {
            let name = try input.string()
            let vm = try input.string()
            let size = try input.varint()
            var flags: [String] = []
            for _ in 0..<(try input.count()) { flags.append(try input.string()) }
            let folioSize = try input.varint()
            let openByte = try input.byte()
            let isOpen = openByte & 1 == 1
            let untrustedSince = openByte & 2 != 0 ? Int64(bitPattern: try input.varint()) : nil
            var runs: [RangeMap<PageState>.Run] = []
            for _ in 0..<(try input.count()) {
                let lower = try input.varint()
                let length = try input.varint()
                runs.append(.init(lower, lower + length, try decodePage(&input)))
            }
            var file = GmemFile(name: name, vm: vm, size: size, flags: flags, folioSize: folioSize, pages: RangeMap(sortedRuns: runs))
            file.isOpen = isOpen
            file.untrustedSince = untrustedSince
            state.files.append(file)
        }
        for _ in 0..<(try input.count()) {
            let name = try input.string()
            state.fileIndex[name] = Int(try input.varint())
        }
        var frames: [RangeMap<FrameOwner>.Run] = []
        for _ in 0..<(try input.count()) {
            let lower = try input.varint()
            let length = try input.varint()
            frames.append(.init(lower, lower + length, FrameOwner(file: Int(try input.varint()), pageDelta: Int64(bitPattern: try input.varint()))))
        }
        state.frames = RangeMap(sortedRuns: frames)
        var reused: [RangeMap<String>.Run] = []
        for _ in 0..<(try input.count()) {
            let lower = try input.varint()
            let length = try input.varint()
            reused.append(.init(lower, lower + length, try input.string()))
        }
        state.reusedFrames = RangeMap(sortedRuns: reused)
        guard input.position == bytes.count else { throw DecodingError(description: "trailing bytes in snapshot") }
        return state
    }

    private static func decodePage(_ input: inout ByteReader) throws(DecodingError) -> PageState {
        let flags = try input.byte()
        var page = PageState(shareability: flags & 1 != 0 ? .private : .shared)
        page.populated = flags & 2 != 0
        page.mapped = flags & 4 != 0
        page.accepted = flags & 8 != 0
        page.quarantined = flags & 16 != 0
        switch try input.byte() {
        case 0: page.requested = .none
        case 1: page.requested = .shared
        default: page.requested = .private
        }
        for holder in Holder.allCases { page.pins[holder] = UInt32(truncatingIfNeeded: try input.varint()) }
        if flags & 32 != 0 { page.frameDelta = Int64(bitPattern: try input.varint()) }
        return page
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func string(_ text: String) {
        varint(UInt64(text.utf8.count))
        bytes.append(contentsOf: text.utf8)
    }

    mutating func optional(_ value: UInt64?) {
        if let value {
            byte(1)
            varint(value)
        } else {
            byte(0)
        }
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var position = 0
    /// What the bytes are, for error messages.
    var what = "snapshot"

    mutating func byte() throws(StateCodec.DecodingError) -> UInt8 {
        guard position < bytes.count else { throw StateCodec.DecodingError(description: "\(what) is truncated") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func varint() throws(StateCodec.DecodingError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            guard shift < 64 else { throw StateCodec.DecodingError(description: "\(what) has a malformed number") }
            value |= UInt64(next & 0x7F) << shift
            if next & 0x80 == 0 { return value }
            shift += 7
        }
    }

    mutating func count() throws(StateCodec.DecodingError) -> Int {
        let value = try varint()
        guard value <= UInt64(bytes.count - position) else {
            throw StateCodec.DecodingError(description: "\(what) has an impossible count")
        }
        return Int(value)
    }

    mutating func string() throws(StateCodec.DecodingError) -> String {
        let length = try count()
        defer { position += length }
        return String(decoding: bytes[position..<(position + length)], as: UTF8.self)
    }

    mutating func optional() throws(StateCodec.DecodingError) -> UInt64? {
        try byte() == 1 ? try varint() : nil
    }
}
