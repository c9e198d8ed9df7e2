/// A run of gmem file pages an event resolved to, with the address the event gave its first
/// page (a file offset or a gpa, in the event's own addressing).
public struct Piece: Equatable, Sendable {
    /// Index into `GmemState.files`.
    public var file: Int
    public var pages: Range<UInt64>
    public var address: UInt64

    public init(file: Int, pages: Range<UInt64>, address: UInt64) {
        self.file = file
        self.pages = pages
        self.address = address
    }

    /// The event-addressed byte address of `page`.
    public func address(ofPage page: UInt64) -> UInt64 {
        address + (page - pages.lowerBound) * pageSize
    }

    /// The frame a populate of `range` starting at frame `pfn` puts behind this piece's first
    /// page: frames follow the event's addresses, whichever file each piece lands in.
    public func firstFrame(populating range: MemoryRange, from pfn: UInt64) -> UInt64 {
        pfn &+ (address &- range.address) / pageSize
    }
}

/// The pieces a verdict concerns, in order. One piece, the common case (a range inside one
/// file), is kept inline: judging an event and destroying its verdict touch no heap for it
/// (an array of one piece was a `malloc` and a `free` per event). More pieces are kept in an
/// array, as before.
public struct Pieces: RandomAccessCollection, Equatable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// The only piece, when there is exactly one; `many` is then empty.
    private var single: Piece?
    /// Every piece, when there are none or more than one.
    private var many: [Piece] = []

    public init() {}

    /// One piece, kept inline.
    public init(_ piece: Piece) {
        single = piece
    }

    public init(_ pieces: [Piece]) {
        if pieces.count == 1 { single = pieces[0] } else { many = pieces }
    }

    public init(arrayLiteral pieces: Piece...) {
        self.init(pieces)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { single == nil ? many.count : 1 }

    public subscript(position: Int) -> Piece {
        if let single {
            precondition(position == 0, "piece \(position) of 1")
            return single
        }
        return many[position]
    }

    /// Adds `piece` at the end.
    public mutating func append(_ piece: Piece) {
        if let single {
            many = [single, piece]
            self.single = nil
        } else if many.isEmpty {
            single = piece
        } else {
            many.append(piece)
        }
    }

    public static func == (lhs: Pieces, rhs: Pieces) -> Bool {
        lhs.elementsEqual(rhs)
    }

    public var description: String { Array(self).description }
}

/// The engine's judgement of one event, computed from the state before it.
public struct Verdict: Equatable, Sendable {
    /// The file pages the event concerns.
    public var pieces = Pieces()
    /// Parts of the event's range (byte addresses in its addressing) that nothing resolves.
    public var unresolved: [Range<UInt64>] {
        get { exceptions?.unresolved ?? [] }
        set {
            if newValue.isEmpty, exceptions == nil { return }
            setExceptions(unresolved: newValue, unresolvedReason: unresolvedReason, blocked: blocked)
        }
    }
    /// Why the event, or part of it, could not be placed.
    public var unresolvedReason: String? {
        get { exceptions?.unresolvedReason }
        set {
            if newValue == nil, exceptions == nil { return }
            setExceptions(unresolved: unresolved, unresolvedReason: newValue, blocked: blocked)
        }
    }
    /// The outcome the kernel would give: `ok` or an error name. `nil` when the model cannot say.
    public var expected: String?
    /// With an expected `EAGAIN`: the offset the kernel would report.
    public var expectedErrorOffset: UInt64?
    /// True when the observed result (or error offset) differs from the expected one.
    public var diverged = false
    /// Set by `Engine.evaluate` when it found the event's VM (`vm`) and the file of its first
    /// piece among the state's recent names, so that `Engine.commit` need not search for them
    /// again to keep them there (`GmemState.rememberNames`). A hint about the state that judged
    /// the event, not part of the judgement: left out of `==`, and a wrong one costs only
    /// lookups (the recent names are derived, never authoritative). Laid in the padding after
    /// `diverged`: the verdict is no larger.
    var namesAreRecent = false
    /// For ops that remove S-EPT entries: the pages whose removal fails (the TD holds them;
    /// `KernelProfile.removalFails`).
    public var blocked: [Piece] {
        get { exceptions?.blocked ?? [] }
        set {
            // The common case (a scan that found no blocked page) leaves the verdict as it is.
            if newValue.isEmpty, exceptions == nil { return }
            setExceptions(unresolved: unresolved, unresolvedReason: unresolvedReason, blocked: newValue)
        }
    }
    /// True when some page's removal fails (`blocked` is not empty), read without a copy of
    /// the array.
    var hasBlocked: Bool { !(exceptions?.blocked.isEmpty ?? true) }
    /// The VM the event acts on, when it has one.
    public var vm: String?
    /// The kernel profile that judged the event: its VM's (EVENTS.md §4a).
    public var kernel = KernelProfile.standard
    /// True when the event's VM is dead and its kernel refuses the event with `EIO`.
    public var refused = false
    /// For a `convert`: true when the conversion returned early and changed nothing — it went
    /// through (its effective outcome is `ok`) under a profile where a conversion whose whole
    /// range already has the requested shareability returns early (upstream-2026), and every
    /// page of its range had it; false when it converted its range (or did not go through).
    /// nil for every other op, and for a verdict that leaves it to `Engine.commit` to decide
    /// from the state. Stored as the event's `returned_early` column: a page's history applies
    /// it instead of asking the rest of the range (docs/FORENSICS.md).
    public var returnedEarly: Bool?

    /// `unresolved`, `unresolvedReason` and `blocked`, which most events leave empty: nil
    /// then, so that a verdict's destruction releases one null reference instead of two
    /// arrays and a string (three calls into the runtime per event).
    private var exceptions: Exceptions?

    public init() {}

    private mutating func setExceptions(unresolved: [Range<UInt64>], unresolvedReason: String?, blocked: [Piece]) {
        if unresolved.isEmpty, unresolvedReason == nil, blocked.isEmpty {
            exceptions = nil
        } else {
            exceptions = Exceptions(unresolved: unresolved, unresolvedReason: unresolvedReason, blocked: blocked)
        }
    }

    public static func == (lhs: Verdict, rhs: Verdict) -> Bool {
        lhs.pieces == rhs.pieces && lhs.unresolved == rhs.unresolved && lhs.unresolvedReason == rhs.unresolvedReason
            && lhs.expected == rhs.expected && lhs.expectedErrorOffset == rhs.expectedErrorOffset
            && lhs.diverged == rhs.diverged && lhs.blocked == rhs.blocked && lhs.vm == rhs.vm
            && lhs.kernel == rhs.kernel && lhs.refused == rhs.refused && lhs.returnedEarly == rhs.returnedEarly
    }
}

/// A verdict's fields that are empty for most events (`Verdict.exceptions`), kept together
/// behind one reference; immutable, replaced whole when one of them changes.
private final class Exceptions: Sendable {
    let unresolved: [Range<UInt64>]
    let unresolvedReason: String?
    let blocked: [Piece]

    init(unresolved: [Range<UInt64>], unresolvedReason: String?, blocked: [Piece]) {
        self.unresolved = unresolved
        self.unresolvedReason = unresolvedReason
        self.blocked = blocked
    }
}
