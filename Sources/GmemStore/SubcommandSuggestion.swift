/// The command a mistyped word most likely meant, for "did you mean" messages.
public enum SubcommandSuggestion {
    /// The name in `names` nearest to `word` by edit distance (insertions, deletions,
    /// substitutions and swaps of neighbours, case ignored), when it is near enough to be a
    /// typo: at most a third of the longer word's letters, and at least one letter, differ.
    public static func nearest(to word: String, in names: [String]) -> String? {
        let typed = Array(word.lowercased().utf8)
        var best: (name: String, distance: Int)?
        for name in names {
            let candidate = Array(name.lowercased().utf8)
            let distance = editDistance(typed, candidate)
            let allowed = max(1, max(typed.count, candidate.count) / 3)
            guard distance <= allowed else { continue }
            if best == nil || distance < best!.distance { best = (name, distance) }
        }
        if let best { return best.name }
        // A prefix of exactly one command (`hist` for `history`) is a likely abbreviation.
        let prefixed = names.filter { typed.count >= 3 && $0.lowercased().utf8.starts(with: typed) }
        return prefixed.count == 1 ? prefixed[0] : nil
    }

    /// The optimal-string-alignment distance between `a` and `b`.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousRow = [Int](repeating: 0, count: b.count + 1)
        var row = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { value = min(value, previousRow[j - 2] + 1) }
                current[j] = value
            }
            previousRow = row
            row = current
        }
        return row[b.count]
    }
}
