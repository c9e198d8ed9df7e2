/// A range a finding concerns: pages of a gmem file (by file offset), or, for addresses that no
/// memslot binds (GM-R13), guest physical addresses of a VM.
public struct FindingRange: Equatable, Sendable {
    /// The gmem file, for a file range.
    public var gmem: String?
    /// The VM, for a guest-physical range (`gmem` is nil then).
    public var vm: String?
    /// The file offset, or the gpa of a guest-physical range.
    public var offset: UInt64
    public var size: UInt64

    /// A range of file offsets of `gmem`.
    public init(gmem: String, offset: UInt64, size: UInt64) {
        self.gmem = gmem
        self.offset = offset
        self.size = size
    }

    /// A range of guest physical addresses of `vm`.
    public init(vm: String, gpa: UInt64, size: UInt64) {
        self.vm = vm
        self.offset = gpa
        self.size = size
    }

    /// `{"gmem":…,"offset":…,"size":…}` or `{"vm":…,"gpa":…,"size":…}`.
    public var json: JSONValue {
        if let gmem {
            return .object([
                JSONMember("gmem", .string(gmem)), JSONMember("offset", .number(String(offset))),
                JSONMember("size", .number(String(size))),
            ])
        }
        return .object([
            JSONMember("vm", .string(vm ?? "")), JSONMember("gpa", .number(String(offset))),
            JSONMember("size", .number(String(size))),
        ])
    }

    /// Reads the form `json` writes.
    public init?(json: JSONValue) {
        guard case .object(let members) = json else { return nil }
        var fields: [String: JSONValue] = [:]
        for member in members { fields[member.key] = member.value }
        guard case .number(let sizeText)? = fields["size"], let size = UInt64(sizeText) else { return nil }
        if case .string(let gmem)? = fields["gmem"], case .number(let offsetText)? = fields["offset"], let offset = UInt64(offsetText) {
            self.init(gmem: gmem, offset: offset, size: size)
        } else if case .string(let vm)? = fields["vm"], case .number(let gpaText)? = fields["gpa"], let gpa = UInt64(gpaText) {
            self.init(vm: vm, gpa: gpa, size: size)
        } else {
            return nil
        }
    }

    /// `g1 0x2000+0x1000` or `td1 gpa 0x80000000+0x1000`.
    public var text: String {
        if let gmem { return "\(gmem) \(hex(offset))+\(hex(size))" }
        return "\(vm ?? "?") gpa \(hex(offset))+\(hex(size))"
    }
}

/// What a rule reports about one event: the pages concerned, the earlier events that explain
/// it, and a message an analyst can put in a report.
public struct Finding: Equatable, Sendable {
    /// The store's id, assigned in (seq, rule) order when the finding is stored.
    public var id: Int64?
    /// The rule's stable id, `GM-R01` … `GM-R14`.
    public var rule: String
    /// The rule's name, `convert-pinned-to-shared` ….
    public var name: String
    /// The rule's severity for this event (the policy file may change it when printed).
    public var severity: Severity
    /// The triggering event.
    public var seq: Int64
    public var ts: Int64?
    public var host: String
    public var vm: String?
    /// The merged ranges concerned, in file order.
    public var ranges: [FindingRange]
    /// Earlier events that explain the finding (the pin never released, the failed zap …),
    /// ascending.
    public var related: [Int64]
    public var message: String
    /// The kernel profile that judged the event (EVENTS.md §4a); nil when not known (a finding
    /// read from a store that did not record it).
    public var kernel: KernelProfile?

    /// Creates a finding; `related` is sorted and de-duplicated.
    public init(
        id: Int64? = nil, rule: String, name: String, severity: Severity, seq: Int64, ts: Int64?, host: String,
        vm: String?, ranges: [FindingRange], related: [Int64], message: String, kernel: KernelProfile? = nil
    ) {
        self.kernel = kernel
        self.id = id
        self.rule = rule
        self.name = name
        self.severity = severity
        self.seq = seq
        self.ts = ts
        self.host = host
        self.vm = vm
        self.ranges = ranges
        self.related = Array(Set(related)).sorted()
        self.message = message
    }

    /// The gmem of the first range, when it is a file range.
    public var gmem: String? { ranges.first?.gmem }
    /// The offset of the first file range.
    public var offset: UInt64? { ranges.first.flatMap { $0.gmem == nil ? nil : $0.offset } }
    /// The size of the first file range.
    public var size: UInt64? { ranges.first.flatMap { $0.gmem == nil ? nil : $0.size } }
}
