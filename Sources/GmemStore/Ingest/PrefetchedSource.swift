import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One input of an ingest read on a thread of its own: reading, line splitting, decoding (a
/// JSON line into an event, a trace line into a record) and compressing the stored input's
/// chunks run there, while the batch's thread judges, hashes and writes. The machine gmem runs
/// on has at least two cores; this puts the second to work.
///
/// What the batch sees does not change: items come in the input's order, a line that fails to
/// decode throws at the point where the sequential read would have thrown, a quarantined line
/// is kept (`Store.BatchWriter.reject`) when the batch's thread reaches it, and the stored
/// input's chunks are written by the batch's thread, inside its transaction. Only regular files
/// are read ahead: a read from a pipe or a terminal may block for ever, and a batch that fails
/// must be able to stop its reader (`stop`) and roll back at once.
final class PrefetchedSource: @unchecked Sendable {
    /// What the reading thread hands over, in the input's order.
    private enum Element {
        /// An item, with the lines and bytes read once it was read; an event comes with its
        /// profile named (`kernel`) and its canonical body made, a trace record whose events
        /// do not depend on the state with those events made (`Prepared`).
        case item(Read, lines: UInt64, bytes: UInt64)
        case reject(source: String, line: UInt64, text: String, reason: String)
        case failure(any Error)
        case end
    }

    /// An item as the reading thread hands it over: an event with its profile named and its
    /// canonical body made, or a trace record with the events made that do not depend on the
    /// state (`prepared`) or that it would be if the guess holds (`guessed`). A reference, made
    /// once on the reading thread and handed on to the merge's head by its pointer: as a value
    /// it is 552 bytes, and moving it from block to head to the merge's loop, four to six
    /// times an item, was a tenth of a trace ingest's batch thread (`memmove`).
    final class Read {
        let item: IngestSource.Item
        let body: CanonicalBody?
        let prepared: Prepared?
        let guessed: Guessed?

        init(item: IngestSource.Item, body: CanonicalBody? = nil, prepared: Prepared? = nil, guessed: Guessed? = nil) {
            self.item = item
            self.body = body
            self.prepared = prepared
            self.guessed = guessed
        }
    }

    /// The events a trace record stands for whatever the state (a context line's, a gap's:
    /// `TraceResolver.eventsWithoutState`), each as the merge appends it (its trace line left
    /// to the stored input, its kernel profile named) with its canonical body made: the
    /// batch's thread only judges, chains and writes them.
    typealias Prepared = [(event: Event, body: CanonicalBody)]

    /// A map or zap record's event as it is when its pages are bound memory of the VM the
    /// merge last gave such an event to (`guessVM`), as the merge appends it, with its body
    /// made (`TraceResolver.guessedEvent`): the merge uses the body only when the record
    /// resolves to that very event.
    typealias Guessed = (event: Event, body: CanonicalBody)

    /// Elements per hand-over: one lock round trip per block, not per line.
    static let blockSize = 512
    /// Blocks read ahead at most: memory stays bounded whatever the input's size.
    static let maxBlocksAhead = 8

    let source: IngestSource
    /// The kernel profile named in each `vm_create` that names none (`MergeIngest.kernel`).
    let kernel: KernelProfile?
    /// The input's line the item last taken was read from (its `src.line`, its stored line).
    private(set) var lines: UInt64 = 0
    /// The input's bytes read once the item last taken was read.
    private(set) var bytes: UInt64 = 0

    private let handOver = BlockHandOver<Element>(maxAhead: maxBlocksAhead)
    /// Chunks of the stored input compressed by the reading thread and not yet stored; shared
    /// between the two threads, under the hand-over's lock.
    private var chunksHeld = 0
    /// The VM the merge last resolved a map or zap event to; shared, under the hand-over's
    /// lock, read by the reading thread once per block.
    private var vmGuess: String?
    /// The batch's thread's copy of `vmGuess`: the lock is taken only when it changes.
    private var vmGuessGiven: String?
    /// Chunks held at most before the reading thread waits for the batch's thread to store
    /// them: a long run of lines that give no item (a trace of skipped events, a cut line of
    /// 100 MB) does not pile up compressed chunks in memory.
    static let maxChunksHeld = 16

    /// Items the merge is done with, given back to the reading thread to be freed there: an
    /// item's event, bodies and prepared events were allocated on that thread, and freeing
    /// them was a few per cent of the batch's thread (the thread an ingest waits for). Shared,
    /// under the hand-over's lock; the reading thread takes them each time it gives a block.
    private var returned: [Read] = []
    /// The batch's thread's items done with since the last block it took.
    private var spent: [Read] = []

    // The batch's thread only: the block being taken, and the next element's index in it.
    private var current: [Element] = []
    private var cursor = 0
    private var finished = false

    /// The head and Merkle frontier the reading thread chains its events' bodies after
    /// (`CanonicalBody.chained`); nil to leave the chaining to the batch's thread.
    private let chainHead: ChainHead?

    /// Where a batch stands when its reading thread starts chaining ahead: its head and the
    /// right edge of its Merkle tree.
    struct ChainHead {
        var hash: [UInt8]
        var frontier: MerkleFrontier
    }

    private init(_ source: IngestSource, kernel: KernelProfile?, chainHead: ChainHead?) {
        self.source = source
        self.kernel = kernel
        self.chainHead = chainHead
    }

    /// Starts reading `source` ahead, when it is a regular file and a thread can be started
    /// (else nil: the batch reads it itself). Its stored input must be set up first. Each
    /// event gets `kernel` named in it (`Event.namingKernel`) and its canonical body made.
    /// `prepare` is called before the thread starts (to hook the stored input to it).
    static func start(_ source: IngestSource, kernel: KernelProfile?, chainHead: ChainHead?, prepare: (PrefetchedSource) -> Void) -> PrefetchedSource? {
        guard source.reader.isRegularFile else { return nil }
        let prefetch = PrefetchedSource(source, kernel: kernel, chainHead: chainHead)
        prepare(prefetch)
        source.readingAhead.store(true, ordering: .releasing)
        guard prefetch.handOver.start(prefetch.produce) else {
            source.readingAhead.store(false, ordering: .releasing)
            return nil
        }
        return prefetch
    }

    /// The next item, or nil at the end of the input: an event with `kernel` named in it and
    /// its canonical body. Quarantined lines before it go to `writer`; a line that does not
    /// decode throws here. `storeChunks` stores the chunks the reading thread compressed so
    /// far (called once per block).
    func next(writer: Store.BatchWriter, storeChunks: () throws -> Void) throws -> Read? {
        while !finished {
            while cursor == current.count {
                current = try take(storeChunks: storeChunks)
                cursor = 0
                try storeChunks()
            }
            // Switched on as it is taken (a temporary, consumed by the match: bound to a name
            // first, its fields would be copied out and the element destroyed after).
            switch takeNext() {
            case .item(let read, let lines, let bytes):
                self.lines = lines
                self.bytes = bytes
                return read
            case .reject(let source, let line, let text, let reason):
                try writer.reject(source: source, line: line, text: text, reason: reason)
            case .failure(let error):
                finished = true
                throw error
            case .end:
                finished = true
            }
        }
        return nil
    }

    /// The element at the cursor, moved out with a payload-free `.end` left in its place for
    /// the block to destroy: an item's event, body and records are neither copied nor retained.
    private func takeNext() -> Element {
        defer { cursor += 1 }
        return current.withUnsafeMutableBufferPointer { block in
            let slot = block.baseAddress! + cursor
            defer { slot.initialize(to: .end) }
            return slot.move()
        }
    }

    /// Stops the reading thread (it ends at its next hand-over) and waits for it: after this
    /// no other thread touches the input, its reader or its stored input.
    func stop() {
        handOver.stop()
    }

    /// The next block, waiting for the reading thread when it has none ready; the chunks it
    /// compresses meanwhile are stored (`storeChunks`) as they come. The caller stores the
    /// chunks compressed up to the block's end right after (`next`), so none is held then.
    private func take(storeChunks: () throws -> Void) throws -> [Element] {
        let block = try handOver.take(whileWaiting: {
            guard chunksHeld > 0 else { return false }
            chunksHeld = 0
            return true
        }, work: storeChunks)
        handOver.withLock {
            chunksHeld = 0
            if returned.isEmpty { swap(&returned, &spent) } else { returned.append(contentsOf: spent) }
            handOver.announceChange()
        }
        spent.removeAll(keepingCapacity: true)
        return block
    }

    /// On the batch's thread: `read` is appended, to be freed on the reading thread.
    func recycle(_ read: consuming Read) {
        spent.append(read)
    }

    /// On the reading thread, after it compressed a chunk of the stored input: waits while
    /// `maxChunksHeld` are held; false once the batch has stopped.
    func chunkCompressed() -> Bool {
        handOver.withLock {
            chunksHeld += 1
            handOver.announceChange()
            while chunksHeld >= Self.maxChunksHeld, !handOver.isStopping { handOver.waitForChange() }
            return !handOver.isStopping
        }
    }

    /// The reading thread: reads the whole input (or until stopped), block by block.
    private func produce() {
        defer { source.readingAhead.store(false, ordering: .releasing) }
        let rejects = RejectCollector()
        let contextBodies = ContextBodyTemplate(file: source.name)
        var vm = handOver.withLock { vmGuess }
        var block: [Element] = []
        block.reserveCapacity(Self.blockSize)
        var chain = chainHead
        while true {
            let item: IngestSource.Item?
            do {
                item = try source.next(rejects: rejects)
            } catch {
                block.append(contentsOf: rejects.take())
                block.append(.failure(error))
                _ = handOver.give(block)
                return
            }
            block.append(contentsOf: rejects.take())
            guard let item else {
                block.append(.end)
                _ = handOver.give(block)
                return
            }
            switch item {
            case .event(let event):
                let named = kernel.map { event.namingKernel($0) } ?? event
                var body = CanonicalBody(of: named)
                if var head = chain {
                    body = body.chained(after: head.hash, frontier: &head.frontier)
                    head.hash = body.chained!.link
                    chain = head
                }
                block.append(.item(Read(item: .event(named), body: body), lines: source.linesRead, bytes: source.bytesRead))
            case .record(let record):
                // Events resolved against the state come between a trace's records: no guess.
                chain = nil
                let prepared = TraceResolver.eventsWithoutState(for: record).map { events in
                    events.map { event -> (event: Event, body: CanonicalBody) in
                        let named = MergeIngest.stored(event, fromStoredInput: source.input != nil, kernel: kernel)
                        return (named, contextBodies.body(of: named) ?? CanonicalBody(of: named))
                    }
                }
                let guessed = vm.flatMap { vm in TraceResolver.guessedEvent(for: record, vm: vm) }.map { event -> Guessed in
                    let named = MergeIngest.stored(event, fromStoredInput: source.input != nil, kernel: kernel)
                    return (named, CanonicalBody(of: named))
                }
                block.append(.item(Read(item: item, prepared: prepared, guessed: guessed), lines: source.linesRead, bytes: source.bytesRead))
            }
            if block.count >= Self.blockSize {
                guard handOver.give(block) else { return }
                block = []
                block.reserveCapacity(Self.blockSize)
                // What the merge is done with is freed here, outside the lock.
                let done: [Read]
                (vm, done) = handOver.withLock {
                    defer { returned = [] }
                    return (vmGuess, returned)
                }
                _ = consume done
            }
        }
    }

    /// On the batch's thread: the VM a map or zap event was just resolved to, the guess for
    /// the records read from here on (`Guessed`).
    func guessVM(_ vm: String) {
        guard vm != vmGuessGiven else { return }
        vmGuessGiven = vm
        handOver.withLock { vmGuess = vm }
    }

    /// Quarantined lines met on the reading thread, handed over in order with the items.
    private final class RejectCollector: RejectSink {
        private var elements: [Element] = []

        func reject(source: String, line: UInt64, text: String, reason: String) throws {
            elements.append(.reject(source: source, line: line, text: text, reason: reason))
        }

        func take() -> [Element] {
            defer { elements.removeAll() }
            return elements
        }
    }
}
