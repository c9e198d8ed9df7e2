/// An event as a history replays it: the event read from its row, with the outcome the engine
/// recorded for it when it was appended (`Engine.replay` follows that record).
public struct RecordedEvent: Equatable, Sendable {
    public var event: Event
    public var expected: String?
    public var expectedErrorOffset: Int64?
    public var diverged: Bool
    /// For a `convert`: whether it returned early, as recorded (`Verdict.returnedEarly`); nil
    /// for every other op and for a conversion stored before schema 3.
    public var returnedEarly: Bool? = nil
}
