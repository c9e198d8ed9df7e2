/// The events of a range read on a thread of its own: stepping SQLite and building each
/// `Event` from its row run there while the caller's thread applies them (the engine, the
/// auditor). Read in turn, a replay costs the read plus the judgement; read ahead on two cores,
/// it costs the larger of the two.
///
/// The caller sees what `Store.forEachDecodedEvent` gives: the same events in seq order, and a
/// row that does not decode (or a SQLite error) throws after the events before it. While it
/// runs, the store's connection belongs to the reading thread, so `body` must not use the
/// store. `forEach` returns, or throws, only once the reading thread has ended.
final class EventReadAhead: @unchecked Sendable {
    /// What the reading thread hands over, in seq order.
    private enum Element {
        case event(Int64, Event)
        case failure(any Error)
        case end
    }

    /// Events per hand-over: one lock round trip per block, not per event.
    static let blockSize = 256
    /// Blocks read ahead at most: memory stays bounded whatever the range.
    static let maxBlocksAhead = 8
    /// A range of fewer events is read on the caller's thread: starting a thread costs more
    /// than the overlap saves (`history` and `state --at` replay a few thousand events).
    static let minimumEvents: Int64 = 8192

    // The reading thread only, until it ends.
    private let scan: EventScan

    private let handOver = BlockHandOver<Element>(maxAhead: maxBlocksAhead)

    private init(_ scan: EventScan) {
        self.scan = scan
    }

    /// Calls `body` with each event `scan` (not yet read) gives, read on a second thread; on
    /// the caller's thread when none can be started.
    static func forEach(_ scan: EventScan, _ body: (Int64, Event) throws -> Void) throws {
        let reader = EventReadAhead(scan)
        guard reader.handOver.start(reader.produce) else {
            while try scan.next(body) {}
            return
        }
        defer { reader.handOver.stop() }
        while true {
            for element in try reader.handOver.take() {
                switch element {
                case .event(let seq, let event): try body(seq, event)
                case .failure(let error): throw error
                case .end: return
                }
            }
        }
    }

    /// The reading thread: every event of the scan, block by block, then the end or the
    /// failure that stopped it.
    private func produce() {
        var block: [Element] = []
        block.reserveCapacity(Self.blockSize)
        do {
            while try scan.next({ seq, event in block.append(.event(seq, event)) }) {
                if block.count == Self.blockSize {
                    guard handOver.give(block) else { return }
                    block.removeAll(keepingCapacity: true)
                }
            }
            block.append(.end)
        } catch {
            block.append(.failure(error))
        }
        _ = handOver.give(block)
    }
}
