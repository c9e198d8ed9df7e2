#if canImport(Glibc)
import Glibc
#endif

/// Blocks of elements handed in order from a reading thread to the thread that uses them, at
/// most `maxAhead` blocks waiting, one lock round trip per block: the hand-over under an
/// ingest's read-ahead (`PrefetchedSource`). A replay's (`EventReadAhead`) uses its thread and
/// its lock, and passes its blocks, and takes them back, by a swap under it. The using thread
/// starts the reading thread (`start`) and, before anything the reader touches is used or freed
/// again, stops and joins it (`stop`).
///
/// State the two threads share beside the blocks is kept under the same lock (`withLock`), so
/// that a wait for either wakes on any change (`waitForChange`, `announceChange`).
final class BlockHandOver<Element>: @unchecked Sendable {
    let maxAhead: Int

    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Under `lock`.
    private var blocks: [[Element]] = []
    private var stopRequested = false
    // The using thread only.
    private var thread: pthread_t?

    init(maxAhead: Int) {
        self.maxAhead = maxAhead
        pthread_mutex_init(lock, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(lock)
        changed.deallocate()
        lock.deallocate()
    }

    /// Runs `produce` on a thread of its own; false when no thread can be started.
    func start(_ produce: @escaping () -> Void) -> Bool {
        let context = Unmanaged.passRetained(ReadingThread(produce))
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            Unmanaged<ReadingThread>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context.toOpaque())
        guard started == 0 else {
            context.release()
            return false
        }
        self.thread = thread
        return true
    }

    /// Stops the reading thread (it ends at its next hand-over or wait) and joins it: after
    /// this no other thread touches what it read from.
    func stop() {
        guard let thread else { return }
        withLock {
            stopRequested = true
            announceChange()
        }
        pthread_join(thread, nil)
        self.thread = nil
    }

    /// On the reading thread: hands `block` over, waiting while `maxAhead` are pending; false
    /// once the using thread has stopped it.
    func give(_ block: [Element]) -> Bool {
        withLock {
            while blocks.count >= maxAhead, !stopRequested { waitForChange() }
            if stopRequested { return false }
            blocks.append(block)
            announceChange()
            return true
        }
    }

    /// On the using thread: the next block, waiting for the reading thread when none is ready.
    /// While none is, `hasWork` (called under the lock) may say there is something to do
    /// meanwhile: `work` then runs with the lock released, and the wait goes on after it.
    func take(whileWaiting hasWork: () -> Bool = { false }, work: () throws -> Void = {}) rethrows -> [Element] {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while blocks.isEmpty {
            if hasWork() {
                announceChange()
                pthread_mutex_unlock(lock)
                defer { pthread_mutex_lock(lock) }
                try work()
                continue
            }
            waitForChange()
        }
        announceChange()
        return blocks.removeFirst()
    }

    /// Runs `body` under the hand-over's lock.
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body()
    }

    /// Under the lock: whether the using thread has stopped the reading thread.
    var isStopping: Bool { stopRequested }

    /// Under the lock: releases it until the other thread announces a change.
    func waitForChange() { pthread_cond_wait(changed, lock) }

    /// Under the lock: wakes the other thread's wait.
    func announceChange() { pthread_cond_broadcast(changed) }
}

/// What a reading thread runs, passed through `pthread_create`'s context.
private final class ReadingThread {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
