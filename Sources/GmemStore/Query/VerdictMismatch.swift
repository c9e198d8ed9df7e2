extension Verdict {
    /// What differs between a stored verdict and this one, replayed: each field that differs,
    /// named, with the stored value and the replay's (`expected error offset: stored 0x2000,
    /// replay none`); nil when they agree. `verify` prints it, so that a changed row says which
    /// of its fields was changed.
    func differences(storedExpected: String?, storedErrorOffset: Int64?, storedDiverged: Bool) -> String? {
        var differences: [String] = []
        if storedExpected != expected {
            differences.append("expected result: stored \(storedExpected ?? "none"), replay \(expected ?? "none")")
        }
        let replayedOffset = expectedErrorOffset.map { Int64(bitPattern: $0) }
        if storedErrorOffset != replayedOffset {
            func text(_ offset: Int64?) -> String { offset.map { hex(UInt64(bitPattern: $0)) } ?? "none" }
            differences.append("expected error offset: stored \(text(storedErrorOffset)), replay \(text(replayedOffset))")
        }
        if storedDiverged != diverged {
            differences.append("diverged: stored \(storedDiverged), replay \(diverged)")
        }
        return differences.isEmpty ? nil : differences.joined(separator: "; ")
    }
}
