/// The version of this build of gmem, and of the formats it writes and the rules it judges by:
/// what `gmem-audit --version` prints, so that a report can name exactly what produced it.
public enum GmemVersion {
    /// The tool's version. Raised with each release; the schema and the rule catalog carry
    /// their own numbers, below.
    public static let tool = "0.1.0"

    /// The store schema this build writes (`PRAGMA user_version`).
    public static var schema: Int64 { Migrator.latestVersion }

    /// The revision of the rule catalog whose findings this build stores.
    public static var ruleCatalog: Int { RuleCatalog.revision }

    /// `gmem-audit 0.1.0 (store schema 1, rule catalog revision 2: GM-R01…GM-R15)`.
    public static var description: String {
        let ids = RuleCatalog.all.map(\.id)
        let rules = ids.count > 1 ? "\(ids.first!)…\(ids.last!)" : ids.joined()
        return "gmem-audit \(tool) (store schema \(schema), rule catalog revision \(ruleCatalog): \(rules))"
    }
}
