/// What the auditor remembers about a page beyond its state: the seq of the events that put it
/// where it is. Kept as runs, like the state, so that remembering costs what the state costs.
///
/// Each seq is stored as a plain `Int64` with `Int64.min` for "none" (a log's seqs start at 1),
/// so that a page is 81 bytes, not ten optionals of 9 bytes each padded to 16 (161): every run
/// the fold splits, shifts or compares moves half the memory. The fields read and write as
/// `Int64?`.
public struct PageMemory: Hashable, Sendable {
    /// The last event that took a `td` pin, while the TD holds one.
    public var tdPin: Int64? {
        get { stored.tdPin == Self.none ? nil : stored.tdPin }
        set { stored.tdPin = newValue ?? Self.none }
    }
    /// The last `iommu`/`vfio` pin, while one is held.
    public var dmaPin: Int64? {
        get { stored.dmaPin == Self.none ? nil : stored.dmaPin }
        set { stored.dmaPin = newValue ?? Self.none }
    }
    /// The last `gup` pin, while one is held.
    public var gupPin: Int64? {
        get { stored.gupPin == Self.none ? nil : stored.gupPin }
        set { stored.gupPin = newValue ?? Self.none }
    }
    /// The last successful `map`, while mapped.
    public var mapped: Int64? {
        get { stored.mapped == Self.none ? nil : stored.mapped }
        set { stored.mapped = newValue ?? Self.none }
    }
    /// The last successful `accept`, while accepted.
    public var accepted: Int64? {
        get { stored.accepted == Self.none ? nil : stored.accepted }
        set { stored.accepted = newValue ?? Self.none }
    }
    /// The last successful `release holder=td`.
    public var tdRelease: Int64? {
        get { stored.tdRelease == Self.none ? nil : stored.tdRelease }
        set { stored.tdRelease = newValue ?? Self.none }
    }
    /// The `gmem_create` or conversion that made the page private, while private.
    public var madePrivate: Int64? {
        get { stored.madePrivate == Self.none ? nil : stored.madePrivate }
        set { stored.madePrivate = newValue ?? Self.none }
    }
    /// The last failed zap or conversion whose cause still stands.
    public var failure: Int64? {
        get { stored.failure == Self.none ? nil : stored.failure }
        set { stored.failure = newValue ?? Self.none }
    }
    /// The failed zap that quarantined the page, while quarantined.
    public var quarantined: Int64? {
        get { stored.quarantined == Self.none ? nil : stored.quarantined }
        set { stored.quarantined = newValue ?? Self.none }
    }
    /// The `vm_destroy` or `gmem_close` that left the page quarantined.
    public var exit: Int64? {
        get { stored.exit == Self.none ? nil : stored.exit }
        set { stored.exit = newValue ?? Self.none }
    }

    /// The stored seqs, `none` where a field is nil (first, so that the cause packs after them).
    private var stored = Seqs()
    /// What made `failure` fail, while it stands.
    public var failureCause = FailureCause.none

    private static let none = Int64.min

    private struct Seqs: Hashable, Sendable {
        var tdPin = PageMemory.none
        var dmaPin = PageMemory.none
        var gupPin = PageMemory.none
        var mapped = PageMemory.none
        var accepted = PageMemory.none
        var tdRelease = PageMemory.none
        var madePrivate = PageMemory.none
        var failure = PageMemory.none
        var quarantined = PageMemory.none
        var exit = PageMemory.none
    }

    public init() {}
}

/// The auditor's compact memory: per gmem file (same index as `GmemState.files`) a run map of
/// `PageMemory`, and per VM the event that killed it and the gpa ranges its unbinds removed.
/// Folded from the transitions the engine's commit of each event makes (`fold(_:seq:)`), so
/// that it follows the one state machine instead of a copy of it; serialized with the engine state so that an audit resumes where it stopped.
public struct AuditMemory: Equatable, Sendable {
    public var files: [RangeMap<PageMemory>] = []
    /// The event after which each VM was dead (bugged or destroyed).
    public var vmDeath: [String: Int64] = [:]
    /// Per VM, by gpa page: the `unbind` that removed the binding of that page.
    public var unbound: [String: RangeMap<Int64>] = [:]
    /// Per file index: the `gmem_close` that closed it.
    public var closed: [Int: Int64] = [:]

    public init() {}

    /// The seqs that `field` holds over `spans`, ascending and distinct.
    public func seqs(in spans: [FileSpan], _ field: (PageMemory) -> Int64?) -> [Int64] {
        var found: Set<Int64> = []
        for span in spans where span.file < files.count {
            files[span.file].forEachRun(in: span.pages) { run in
                if let seq = field(run.value) { found.insert(seq) }
                return true
            }
        }
        return found.sorted()
    }

    /// True when a page of `pages` of file `file` has a memory that satisfies `predicate`; walks
    /// the runs without building any array.
    public func contains(file: Int, pages: Range<UInt64>, where predicate: (PageMemory) -> Bool) -> Bool {
        guard file < files.count else { return false }
        var found = false
        files[file].forEachRun(in: pages) { run in
            found = predicate(run.value)
            return !found
        }
        return found
    }

    /// Folds one transition of event `seq` into the memory: each page remembers the event that
    /// put it where the engine's transition left it.
    public mutating func fold(_ transition: Transition, seq: Int64) {
        switch transition {
        case .vmCreated(let vm):
            vmDeath[vm] = nil
            unbound[vm] = nil
        case .vmDied(let vm):
            vmDeath[vm] = seq
        case .tornDown(let piece):
            update(piece) { $0.mapped = nil; $0.accepted = nil }
        case .reclaimed(let span):
            update(span) { $0.quarantined = nil; $0.exit = nil }
        case .leftQuarantined(let span):
            update(span) { $0.exit = seq }
        case .fileCreated(let file, let pages, let shareability):
            var page = PageMemory()
            if shareability == .private, pages > 0 { page.madePrivate = seq }
            while files.count < file { files.append(RangeMap()) }
            if files.count == file { files.append(RangeMap(0..<pages, page)) }
        case .fileClosed(let file):
            closed[file] = seq
        case .bound(let vm, let gpaPages):
            unbound[vm]?.assign(gpaPages, nil)
        case .unbound(let vm, let gpaPages):
            unbound[vm, default: RangeMap()].assign(gpaPages, seq)
        case .zapped(let piece, let endsQuarantine):
            update(piece) {
                $0.mapped = nil
                $0.accepted = nil
                if endsQuarantine { $0.quarantined = nil; $0.exit = nil }
                $0.failure = nil
                $0.failureCause = .none
            }
        case .quarantined(let piece):
            update(piece) { if $0.quarantined == nil { $0.quarantined = seq } }
        case .failed(let span, let cause):
            update(span) { $0.failure = seq; $0.failureCause = cause }
        case .converted(let piece, let to, let endsQuarantine):
            update(piece) {
                $0.mapped = nil
                $0.accepted = nil
                if endsQuarantine { $0.quarantined = nil }
                $0.failure = nil
                $0.failureCause = .none
                $0.madePrivate = to == .private ? ($0.madePrivate ?? seq) : nil
            }
        case .mapped(let piece):
            update(piece) { $0.mapped = seq }
        case .accepted(let piece, let pinnedByTD):
            update(piece) {
                $0.accepted = seq
                if pinnedByTD { $0.tdPin = seq }
            }
        case .pinned(let piece, let holder):
            update(piece) {
                switch holder {
                case .td: $0.tdPin = seq
                case .iommu, .vfio: $0.dmaPin = seq
                case .gup: $0.gupPin = seq
                }
            }
        case .released(let span, let holder, let pins):
            update(span) {
                switch holder {
                case .td:
                    if pins.td == 0 { $0.tdPin = nil }
                    $0.tdRelease = seq
                    $0.accepted = nil
                    if $0.failureCause == .tdPin { $0.failure = nil; $0.failureCause = .none }
                case .iommu, .vfio, .gup:
                    if pins.iommu == 0 && pins.vfio == 0 { $0.dmaPin = nil }
                    if pins.gup == 0 { $0.gupPin = nil }
                    if $0.failureCause == .hostPin { $0.failure = nil; $0.failureCause = .none }
                }
            }
        case .alreadyConverted, .requested, .populated, .holePunched, .reused:
            return
        }
    }

    /// The fold of one event's transitions into an auditor's memory (`Engine.commit(_:_:into:)`).
    public struct Fold: TransitionFold, Sendable {
        public var memory: AuditMemory
        /// The seq of the event being committed.
        public var seq: Int64

        public init(memory: AuditMemory, seq: Int64) {
            self.memory = memory
            self.seq = seq
        }

        public mutating func fold(_ transition: Transition) {
            memory.fold(transition, seq: seq)
        }
    }

    private mutating func update(_ piece: Piece, _ change: (inout PageMemory) -> Void) {
        update(FileSpan(file: piece.file, pages: piece.pages), change)
    }

    private mutating func update(_ span: FileSpan, _ change: (inout PageMemory) -> Void) {
        guard span.file < files.count else { return }
        files[span.file].modify(span.pages, change)
    }
}
