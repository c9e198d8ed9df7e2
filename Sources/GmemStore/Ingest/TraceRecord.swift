/// One trace line a reader understood (EVENTS.md §5), before it is placed against the state.
///
/// A record says what the line says and nothing more: a gfn, an hva range, an iova. Which VM,
/// gmem file and pages that means depends on the bindings known at that point of the merged
/// stream, so `TraceResolver` turns records into events only when the merge reaches them.
public struct TraceRecord: Equatable, Sendable {
    /// What the line reports.
    public enum Kind: Equatable, Sendable {
        /// A stage-2 mapping installed for `pages` pages from `gfn` (`kvm_mmu_set_spte` leaf,
        /// `kvm_tdp_mmu_spte_changed` present 0→1).
        case map(gfn: UInt64, pages: UInt64)
        /// A stage-2 mapping removed for `pages` pages from `gfn` (`kvm_tdp_mmu_spte_changed`
        /// present 1→0, `kvm_mmu_prepare_zap_page` of a `direct` shadow page).
        case zap(gfn: UInt64, pages: UInt64)
        /// Everything the VM has mapped is zapped (`kvm_mmu_zap_all_fast`).
        case zapAll
        /// The host unmapped [start, end) of its address space (`kvm_unmap_hva_range`).
        case unmapHVA(start: UInt64, end: UInt64)
        /// The guest asked for a conversion (`kvm_hypercall` KVM_HC_MAP_GPA_RANGE, QEMU
        /// `kvm_memory_fault`).
        case convertRequest(gpa: UInt64, size: UInt64, to: Shareability, implicit: Bool)
        /// The VMM converts a gpa range (QEMU `kvm_convert_memory`).
        case convert(gpa: UInt64, size: UInt64, to: Shareability)
        /// An IOMMU mapping of [iova, iova + size) to host physical `paddr` (`iommu/map`).
        case iommuMap(iova: UInt64, paddr: UInt64, size: UInt64)
        /// An IOMMU unmapping of `size` bytes at `iova` (`iommu/unmap`, its `unmapped_size`).
        case iommuUnmap(iova: UInt64, size: UInt64)
        /// A memslot set with a guest_memfd (QEMU `kvm_set_user_memory`); `size` 0 deletes it.
        /// `result` is `ok` or the error name of QEMU's `ret`.
        case memslot(slot: UInt64, gpa: UInt64, size: UInt64, hva: UInt64, fd: Int64, offset: UInt64, result: String)
        /// A line kept with the event stream that changes no state, with why when it is not
        /// one of the context tracepoints of EVENTS.md §5.
        case context(note: String?)
        /// The trace lost events (`[LOST n EVENTS]`, `[n EVENTS DROPPED]`, an overwritten
        /// ring buffer): `source` names the buffer, `lost` the count when the line gives one.
        case gap(source: String, lost: UInt64?)
    }

    /// The tracepoint (or QEMU trace event) name.
    public var tracepoint: String
    /// Nanoseconds on the trace's clock; nil when the line carries no time.
    public var ts: Int64?
    /// What the line reports.
    public var kind: Kind
    /// The file, line number and text of the line.
    public var source: EventSource

    /// A record of `tracepoint` at `ts` that reports `kind`, read from `source`.
    public init(tracepoint: String, ts: Int64?, kind: Kind, source: EventSource) {
        self.tracepoint = tracepoint
        self.ts = ts
        self.kind = kind
        self.source = source
    }
}

/// What a trace reader made of one line.
public enum TraceLineReading: Equatable, Sendable {
    /// A line of an event the reader knows.
    case record(TraceRecord)
    /// A line the reader skips, counted under `name`: an event it does not know, a marker, or
    /// a line that does not have the shape its event's format gives.
    case skipped(name: String)
    /// A header, comment or empty line: not an event, not counted.
    case ignored
}

/// Lines a reader skipped, counted by event name (printed in the ingest summary), in bounded
/// memory whatever the input: at most `nameLimit` distinct names are counted by name, each
/// name cut to `nameLength` bytes; lines of names met after the table is full are counted
/// together as other names (`otherLines`). Every skipped line is in `total`.
public struct SkippedLines: Equatable, Sendable {
    /// The most distinct names counted by name: 256.
    public static let nameLimit = 256
    /// The longest name kept, in bytes: 64; a longer one is cut and ends in `…`.
    public static let nameLength = 64

    /// Skipped lines per event name.
    public private(set) var counts: [String: Int] = [:]
    /// Skipped lines whose names came after `nameLimit` others.
    public private(set) var otherLines = 0
    /// All skipped lines.
    public private(set) var total = 0

    /// No line skipped yet.
    public init() {}

    /// Counts `count` more skipped lines of `name`.
    public mutating func add(_ name: String, count: Int = 1) {
        total += count
        let key = Self.kept(name)
        if counts[key] != nil || counts.count < Self.nameLimit {
            counts[key, default: 0] += count
        } else {
            otherLines += count
        }
    }

    /// Adds every count of `other`.
    public mutating func merge(_ other: SkippedLines) {
        for (name, count) in other.counts { add(name, count: count) }
        otherLines += other.otherLines
        total += other.otherLines
    }

    /// `name count` pairs, most frequent first, then by name.
    public var sorted: [(name: String, count: Int)] {
        counts.map { ($0.key, $0.value) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
    }

    /// `name count, …` for the `shown` most frequent names, then what is left in one
    /// phrase: at most `shown` names of at most `nameLength` bytes each, whatever the input.
    public func summary(shown: Int = 20) -> String {
        let all = sorted
        var parts = all.prefix(shown).map { "\($0.name) \($0.count)" }
        let restNames = all.count - min(all.count, shown)
        let restLines = all.dropFirst(shown).reduce(0) { $0 + $1.count }
        if restNames > 0 { parts.append("(\(restNames) other names) \(restLines)") }
        if otherLines > 0 { parts.append("(names past the first \(Self.nameLimit)) \(otherLines)") }
        return parts.joined(separator: ", ")
    }

    /// `name` as counted: control characters written as `\u{…}` escapes, cut to `nameLength`
    /// bytes.
    static func kept(_ name: String) -> String {
        guard name.utf8.count > nameLength || name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return name }
        var text = ""
        for scalar in name.unicodeScalars {
            let piece = scalar.value < 0x20 || scalar.value == 0x7F ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
            if text.utf8.count + piece.utf8.count > nameLength {
                text += "…"
                break
            }
            text += piece
        }
        return text
    }
}

/// Small parsers for the numbers trace lines print.
enum TraceNumber {
    /// A hex number with or without `0x` (the kernel prints `%llx`, `%#lx`, `0x%016llx`).
    static func hex(_ text: Substring) -> UInt64? {
        var digits = text
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.utf8.count <= 16 else { return nil }
        return UInt64(digits, radix: 16)
    }

    /// A decimal number.
    static func decimal(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(text)
    }

    /// A signed decimal number (`%d`).
    static func signed(_ text: Substring) -> Int64? {
        Int64(text)
    }

    /// `SECONDS.FRACTION` (any number of fraction digits up to 9) as nanoseconds.
    static func seconds(_ text: Substring) -> Int64? {
        seconds(digits: text.utf8)
    }

    /// `seconds(_:)` of a word's bytes (`FtraceReader.eventRange`).
    static func seconds(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        seconds(digits: bytes)
    }

    private static func seconds(digits text: some Sequence<UInt8>) -> Int64? {
        var whole: Int64 = 0
        var wholeDigits = 0
        var nanos: Int64 = 0
        var fractionDigits = -1
        for byte in text {
            if byte == UInt8(ascii: "."), fractionDigits < 0 {
                fractionDigits = 0
                continue
            }
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            let digit = Int64(byte - 0x30)
            if fractionDigits < 0 {
                wholeDigits += 1
                guard wholeDigits <= 10 else { return nil }
                whole = whole * 10 + digit
            } else {
                fractionDigits += 1
                guard fractionDigits <= 9 else { return nil }
                nanos = nanos * 10 + digit
            }
        }
        guard wholeDigits > 0, fractionDigits != 0, whole < 9_000_000_000 else { return nil }
        for _ in max(fractionDigits, 0)..<9 { nanos *= 10 }
        return whole * 1_000_000_000 + nanos
    }

    /// The C error name for a negative return value (QEMU prints `ret=%d`).
    static func errorName(_ ret: Int64) -> String {
        if ret == 0 { return "ok" }
        let names: [UInt64: String] = [
            1: "EPERM", 2: "ENOENT", 5: "EIO", 7: "E2BIG", 9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
            14: "EFAULT", 16: "EBUSY", 17: "EEXIST", 19: "ENODEV", 22: "EINVAL", 25: "ENOTTY", 28: "ENOSPC",
            95: "EOPNOTSUPP",
        ]
        return names[ret.magnitude] ?? "errno \(ret.magnitude)"
    }
}
