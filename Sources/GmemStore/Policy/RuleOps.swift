/// A set of ops (`Operation.Kind`), one bit per kind: the ops a catalog rule can fire on.
struct OpSet: OptionSet, Sendable {
    let rawValue: UInt32

    init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// The set of the one op `kind`.
    init(_ kind: Operation.Kind) {
        rawValue = 1 << UInt32(kind.rawValue)
    }

    /// Every op: for a rule that any event can trigger (a refused, diverged or unresolved one).
    static let all = OpSet(rawValue: .max)

    static let vmDestroy = OpSet(.vmDestroy)
    static let gmemClose = OpSet(.gmemClose)
    static let unbind = OpSet(.unbind)
    static let punchHole = OpSet(.punchHole)
    static let zap = OpSet(.zap)
    static let convertRequest = OpSet(.convertRequest)
    static let convert = OpSet(.convert)
    static let accept = OpSet(.accept)
    static let pin = OpSet(.pin)
    static let release = OpSet(.release)
    static let hostAccess = OpSet(.hostAccess)
    static let reuse = OpSet(.reuse)
    static let gap = OpSet(.gap)
}

/// A rule of `RuleCatalog.all` that says which ops it can fire on, so that the auditor calls
/// it only on those (`Auditor.judgeByCatalog`): `check` returns nil on every other op.
/// `AuditCatalogPathTests` holds both: every rule on every event through `any Rule` finds what
/// the catalog path finds, and no rule fires on an op outside its set.
protocol CatalogRule: Rule {
    static var ops: OpSet { get }
}

extension ConvertPinnedToShared: CatalogRule { static var ops: OpSet { [.convertRequest, .convert] } }
/// Under upstream-2026 any event whose S-EPT removal of a TD-held page fails.
extension ZapOfTDPinned: CatalogRule { static var ops: OpSet { .all } }
extension FutileRetry: CatalogRule { static var ops: OpSet { [.zap, .convert] } }
extension UnrequestedPrivateZap: CatalogRule { static var ops: OpSet { [.zap, .punchHole, .convert] } }
extension ReuseOfUnreclaimedFrame: CatalogRule { static var ops: OpSet { .reuse } }
extension ConvertWithElevatedRefcount: CatalogRule { static var ops: OpSet { .convert } }
extension HostAccessToPrivate: CatalogRule { static var ops: OpSet { .hostAccess } }
extension PinLeak: CatalogRule { static var ops: OpSet { [.vmDestroy, .gmemClose, .release] } }
extension OpOnDeadVM: CatalogRule { static var ops: OpSet { .all } }
extension DMAOrdering: CatalogRule { static var ops: OpSet { [.pin, .convert] } }
extension OutcomeDivergence: CatalogRule { static var ops: OpSet { .all } }
extension AcceptReleaseImbalance: CatalogRule { static var ops: OpSet { [.accept, .release] } }
extension UnresolvedAddress: CatalogRule { static var ops: OpSet { .all } }
extension UnsafeQuarantineExit: CatalogRule { static var ops: OpSet { .reuse } }
extension EvidenceGap: CatalogRule { static var ops: OpSet { .gap } }
