/// The registry: every rule of POLICIES.md, in id order. The auditor runs them in this order, so
/// findings of one event are stored, and numbered, by rule id.
public enum RuleCatalog {
    /// All fifteen rules.
    public static let all: [any Rule] = [
        ConvertPinnedToShared(),
        ZapOfTDPinned(),
        FutileRetry(),
        UnrequestedPrivateZap(),
        ReuseOfUnreclaimedFrame(),
        ConvertWithElevatedRefcount(),
        HostAccessToPrivate(),
        PinLeak(),
        OpOnDeadVM(),
        DMAOrdering(),
        OutcomeDivergence(),
        AcceptReleaseImbalance(),
        UnresolvedAddress(),
        UnsafeQuarantineExit(),
        EvidenceGap(),
    ]

    /// Bumped whenever a rule's logic changes, so that stored findings made by an older catalog
    /// are recomputed instead of mixed with new ones.
    public static let revision = 2

    /// Names the catalog the stored findings were made with: the revision and the rule ids.
    public static var signature: String { "\(revision):" + all.map(\.id).joined(separator: ",") }

    /// The rule with `id`, when there is one.
    public static func rule(_ id: String) -> (any Rule)? { all.first { $0.id == id } }

    /// True when `rules` are `all`: the same rule types in the same order (the rules hold no
    /// values, so the type is the rule).
    static func isAll(_ rules: [any Rule]) -> Bool {
        rules.count == all.count
            && zip(rules, all).allSatisfy { ObjectIdentifier(type(of: $0.0)) == ObjectIdentifier(type(of: $0.1)) }
    }
}
