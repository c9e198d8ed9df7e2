/// Evidence gaps (EVENTS.md §2 `gap`, docs/MODEL.md "Gaps"). A `gap` changes no page: the
/// engine cannot know what the lost events did. It marks what it may have touched — every VM
/// not yet destroyed and every open gmem file — as untrusted since the gap's seq, so that
/// `state`, `history` and `explain` say their state is a reconstruction across a hole. A mark
/// stays until the VM or file is gone; a VM or file created after the gap starts trusted.
///
/// The engine does not number events, so the mark needs the seq from the caller: every replay
/// of stored events applies them with `apply(_:seq:)` (or `replay(_:seq:…)`), the store and the
/// auditor call `noteEvidence(of:seq:)` after their commit.
extension Engine {
    /// Judges and applies event `seq` (`apply(_:)`), then records what a `gap` leaves untrusted.
    @discardableResult
    public mutating func apply(_ event: Event, seq: Int64) -> Verdict {
        let verdict = apply(event)
        noteEvidence(of: event, seq: seq)
        return verdict
    }

    /// `replay(_:expected:expectedErrorOffset:diverged:)` of event `seq`, with its trust marks.
    @discardableResult
    public mutating func replay(
        _ event: Event, seq: Int64, expected: String?, expectedErrorOffset: Int64?, diverged: Bool, returnedEarly: Bool? = nil
    ) -> Verdict {
        let verdict = replay(event, expected: expected, expectedErrorOffset: expectedErrorOffset, diverged: diverged, returnedEarly: returnedEarly)
        noteEvidence(of: event, seq: seq)
        return verdict
    }

    /// After event `seq` was committed: a `gap` marks every VM not destroyed and every open
    /// gmem file untrusted since `seq`, unless an earlier gap already did.
    public mutating func noteEvidence(of event: Event, seq: Int64) {
        guard case .gap = event.op else { return }
        for name in state.vms.keys where state.vms[name]!.life != .destroyed && state.vms[name]!.untrustedSince == nil {
            state.vms[name]!.untrustedSince = seq
        }
        for index in state.files.indices where state.files[index].isOpen && state.files[index].untrustedSince == nil {
            state.files[index].untrustedSince = seq
        }
    }
}
