#if canImport(Glibc)
import Glibc
#endif

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
    private let statement: Statement
    private var names: NameLookup

    // Shared between the two threads, under `lock`.
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var blocks: [[Element]] = []
    private var stopped = false

    // The caller's thread only.
    private var thread: pthread_t?

    private init(_ statement: Statement, names: NameLookup) {
        self.statement = statement
        self.names = names
        pthread_mutex_init(lock, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(lock)
        changed.deallocate()
        lock.deallocate()
    }

    /// Calls `body` with each event `statement` (bound, not yet stepped; `Store.decodedEvents`)
    /// yields, read on a second thread; on the caller's thread when none can be started.
    static func forEach(_ statement: Statement, names: NameLookup, _ body: (Int64, Event) throws -> Void) throws {
        let reader = EventReadAhead(statement, names: names)
        guard reader.start() else {
            var names = names
            while let (seq, event) = try Store.decodedEvent(statement, names: &names) { try body(seq, event) }
            return
        }
        defer { reader.stop() }
        while true {
            for element in reader.take() {
                switch element {
                case .event(let seq, let event): try body(seq, event)
                case .failure(let error): throw error
                case .end: return
                }
            }
        }
    }

    private func start() -> Bool {
        let context = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            let reader = Unmanaged<EventReadAhead>.fromOpaque(context!).takeRetainedValue()
            reader.produce()
            return nil
        }, context.toOpaque())
        guard started == 0 else {
            context.release()
            return false
        }
        self.thread = thread
        return true
    }

    /// Stops the reading thread (it ends at its next hand-over) and waits for it: after this
    /// no other thread uses the statement or the store's connection.
    private func stop() {
        guard let thread else { return }
        pthread_mutex_lock(lock)
        stopped = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(lock)
        pthread_join(thread, nil)
        self.thread = nil
    }

    /// The next block, waiting for the reading thread when it has none ready.
    private func take() -> [Element] {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while blocks.isEmpty { pthread_cond_wait(changed, lock) }
        pthread_cond_broadcast(changed)
        return blocks.removeFirst()
    }

    /// Hands a block over, waiting while `maxBlocksAhead` are pending; false once stopped.
    private func give(_ block: [Element]) -> Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while blocks.count >= Self.maxBlocksAhead, !stopped { pthread_cond_wait(changed, lock) }
        if stopped { return false }
        blocks.append(block)
        pthread_cond_broadcast(changed)
        return true
    }

    /// The reading thread: every row of the statement, block by block, then the end or the
    /// failure that stopped it.
    private func produce() {
        var block: [Element] = []
        block.reserveCapacity(Self.blockSize)
        do {
            while let (seq, event) = try Store.decodedEvent(statement, names: &names) {
                block.append(.event(seq, event))
                if block.count == Self.blockSize {
                    guard give(block) else { return }
                    block.removeAll(keepingCapacity: true)
                }
            }
            block.append(.end)
        } catch {
            block.append(.failure(error))
        }
        _ = give(block)
    }
}
