/// The events of a range read on a thread of its own: stepping SQLite and building each
/// `Event` from its row run there while the caller's thread applies them (the engine, the
/// auditor). Read in turn, a replay costs the read plus the judgement; read ahead on two cores,
/// it costs the larger of the two.
///
/// The caller's thread does only the caller's work. Blocks go over as parallel arrays of seqs
/// and events, each moved (never copied) from one thread to the other; the caller lends each
/// event to `body` where it lies, and gives the walked block back, so that its events are
/// destroyed, and its arrays filled again, on the reading thread: no `Event` is copied or
/// destroyed on the caller's thread, and no count is taken there on the names it holds.
///
/// The caller sees what `Store.forEachDecodedEvent` gives: the same events in seq order, and a
/// row that does not decode (or a SQLite error) throws after the events before it. While it
/// runs, the store's connection belongs to the reading thread, so `body` must not use the
/// store. `forEach` returns, or throws, only once the reading thread has ended.
final class EventReadAhead: @unchecked Sendable {
    /// Events in seq order, as parallel arrays (`seqs[i]` is the seq of `events[i]`), and, in
    /// the range's last block, what ended the read after them.
    struct Block {
        var seqs: [Int64] = []
        var events: [Event] = []
        var ending: Ending?

        /// An empty block; `capacity` 0 allocates nothing (a place holder in a swap).
        init(reserving capacity: Int) {
            seqs.reserveCapacity(capacity)
            events.reserveCapacity(capacity)
        }
    }

    /// How the read ended: at the range's end, or at a failure that the caller throws after
    /// the events before it.
    enum Ending {
        case end
        case failure(any Error)
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

    /// The reading thread and the lock under which the two threads pass blocks. Its own queue
    /// of `[Element]` is not used: a block goes over by a swap under the lock (`ready`), so
    /// that neither thread keeps a reference to it, which would make the other copy its arrays
    /// when it writes to them.
    private let handOver = BlockHandOver<Block>(maxAhead: maxBlocksAhead)
    // Under `handOver`'s lock.
    /// Blocks filled, in seq order, not yet taken by the caller.
    private var ready: [Block] = []
    /// Blocks the caller has walked, for the reading thread to empty and fill again.
    private var spent: [Block] = []
    /// Whether either thread waits for the other (then a change wakes it; otherwise none is
    /// announced, which would cost a system call per block).
    private var readerWaits = false
    private var callerWaits = false

    /// Blocks the reading thread allocated; the others it filled were spent ones given back.
    /// At most `maxBlocksAhead` + 3 whatever the range (ready, being filled, being walked, and
    /// given back but not yet emptied). Read once `run` has returned.
    private(set) var blocksAllocated = 0

    init(_ scan: EventScan) {
        self.scan = scan
        ready.reserveCapacity(Self.maxBlocksAhead)
        spent.reserveCapacity(Self.maxBlocksAhead + 3)
    }

    /// Calls `body` with each event `scan` (not yet read) gives, read on a second thread; on
    /// the caller's thread when none can be started.
    static func forEach(_ scan: EventScan, _ body: (Int64, Event) throws -> Void) throws {
        try EventReadAhead(scan).run(body)
    }

    /// `forEach` of this reader's scan.
    func run(_ body: (Int64, Event) throws -> Void) throws {
        guard handOver.start(produce) else {
            while try scan.next({ seq, event in try body(seq, event) }) {}
            return
        }
        defer { handOver.stop() }
        while true {
            var block = take()
            try block.seqs.withUnsafeBufferPointer { seqs in
                try block.events.withUnsafeMutableBufferPointer { events in
                    for index in 0..<events.count { try Self.lend(seqs[index], &events[index], body) }
                }
            }
            switch block.ending {
            case nil: giveBack(&block)
            case .end: return
            case .failure(let error): throw error
            }
        }
    }

    /// Calls `body` with `event` where it lies. Taken `inout`, it is known to be this call's
    /// alone, so it goes to `body` without a copy; a borrow of the block's element is copied (a
    /// count taken on each of its names, and dropped again) for fear that `body` writes to it.
    @inline(never)
    private static func lend(_ seq: Int64, _ event: inout Event, _ body: (Int64, Event) throws -> Void) rethrows {
        try body(seq, event)
    }

    /// On the caller's thread: the next block, waiting for the reading thread when none is
    /// ready.
    private func take() -> Block {
        handOver.withLock {
            while ready.isEmpty {
                callerWaits = true
                handOver.waitForChange()
            }
            callerWaits = false
            // A reader waiting on a full queue is woken once half of it is free.
            if readerWaits, ready.count <= Self.maxBlocksAhead / 2 + 1 { handOver.announceChange() }
            return ready.removeFirst()
        }
    }

    /// On the caller's thread: `block` is walked; the reading thread destroys its events.
    private func giveBack(_ block: inout Block) {
        handOver.withLock {
            spent.append(Block(reserving: 0))
            swap(&spent[spent.count - 1], &block)
        }
    }

    /// On the reading thread: an empty block, a spent one when the caller has given one back.
    private func emptyBlock() -> Block {
        guard var block = handOver.withLock({ spent.popLast() }) else {
            blocksAllocated += 1
            return Block(reserving: Self.blockSize)
        }
        block.seqs.removeAll(keepingCapacity: true)
        block.events.removeAll(keepingCapacity: true)
        return block
    }

    /// On the reading thread: hands `block` over, waiting while `maxBlocksAhead` are ready,
    /// and leaves an empty block in its place (one that allocated nothing after the last);
    /// false once the caller has stopped the read.
    private func pass(_ block: inout Block, last: Bool = false) -> Bool {
        var next = last ? Block(reserving: 0) : emptyBlock()
        let passed = handOver.withLock {
            if ready.count >= Self.maxBlocksAhead {
                readerWaits = true
                while ready.count > Self.maxBlocksAhead / 2, !handOver.isStopping { handOver.waitForChange() }
                readerWaits = false
            }
            if handOver.isStopping { return false }
            ready.append(Block(reserving: 0))
            swap(&ready[ready.count - 1], &block)
            if callerWaits { handOver.announceChange() }
            return true
        }
        swap(&block, &next)
        return passed
    }

    /// The reading thread: every event of the scan, block by block, then the end or the
    /// failure that stopped it.
    private func produce() {
        var block = emptyBlock()
        do {
            while try scan.next({ seq, event in
                block.seqs.append(seq)
                block.events.append(event)
            }) {
                if block.events.count == Self.blockSize {
                    guard pass(&block) else { return }
                }
            }
            block.ending = .end
        } catch {
            block.ending = .failure(error)
        }
        _ = pass(&block, last: true)
    }
}
