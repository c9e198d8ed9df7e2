import Crypto
/// Ingests several inputs — a VMM's JSON Lines, a kernel trace, a QEMU trace log — as one
/// batch ordered by timestamp (EVENTS.md §5, CLI.md `ingest --merge`); also the one-file
/// ingest of a trace.
///
/// The merge streams: it holds one item per input and appends the earliest, so memory does not
/// grow with the inputs. Each input keeps its own order ("stable within a file"). Its items are
/// ordered by a key: the item's `ts`; for an item without `ts`, the key of the item before it
/// in the same input (the start of time for items before the first `ts`), so it stays right
/// after its own predecessor. Between inputs the smaller key goes first; equal keys go in the
/// order the inputs were named. A trace record is resolved into events (`TraceResolver`) only
/// when it is appended, against the state the events before it made.
public struct MergeIngest {
    /// Keep undecodable JSON Lines in the reject table instead of failing the batch.
    public var quarantine = false
    /// The VM trace lines belong to (`ingest --vm`); nil: the only VM alive at that point.
    public var vm: String?
    /// False to store JSON Lines events exactly as written, without naming this input as their
    /// `src` (`ingest --verbatim`, for re-ingesting an export).
    public var addsSource = true
    /// Called now and then with the bytes and lines read so far over all inputs.
    public var progress: ((UInt64, UInt64) -> Void)?
    /// The kernel profile written into each `vm_create` that names none (`ingest --kernel`);
    /// nil stores them as written (`--verbatim`), to be judged by the standard profile.
    public var kernel: KernelProfile? = .standard
    /// Insert event rows several to a statement (`EventRowBuffer`); false inserts each when it
    /// is appended, as `Store.append` does (the plain path the tests compare it with).
    var defersEventRows = true

    /// An ingest with `--quarantine`, `--vm` and `--verbatim` as given.
    public init(quarantine: Bool = false, vm: String? = nil, addsSource: Bool = true) {
        self.quarantine = quarantine
        self.vm = vm
        self.addsSource = addsSource
        self.kernel = addsSource ? .standard : nil
    }

    /// What an ingest did: the batch, and per input its format and skipped lines.
    public struct Summary {
        /// The batch the inputs became.
        public var batch: Store.BatchSummary
        /// Per input, in the order given: its name, its format, the trace lines it read as
        /// records, and the lines it skipped.
        public var inputs: [(name: String, format: InputFormat?, records: Int, skipped: SkippedLines)]
        /// Trace events that name no VM because none or several were alive (`?`).
        public var unresolvedVM: Int
    }

    /// Ingests `inputs` (path, format or nil to detect) as one batch. Re-ingesting the same
    /// files in the same order adds nothing.
    public func ingest(_ inputs: [(path: String, format: InputFormat?)], into store: Store) throws -> Summary {
        precondition(!inputs.isEmpty, "ingest of no input")
        var sources: [IngestSource] = []
        for input in inputs {
            sources.append(try IngestSource(path: input.path, format: input.format, quarantine: quarantine, addsSource: addsSource))
        }
        return try ingest(sources, into: store)
    }

    /// Ingests already opened `sources` as one batch. When every source is a regular file of a
    /// size the store holds an input of (read the same way), its bytes are hashed first (one
    /// `pread` pass, no parsing) and an input the store already holds is answered at once with
    /// the batch that holds it, without being read. Inputs of sizes the store holds none of
    /// are not hashed twice: that pass was serial, before the reading thread starts (about 5 %
    /// of a JSON Lines ingest's batch thread, 0.15 s of a 100 MiB trace's 2.4 s), and the batch
    /// is checked for being a duplicate at its end in any case (`Store.ingestOnce`).
    public func ingest(_ sources: [IngestSource], into store: Store) throws -> Summary {
        let readAs = readAs(sources)
        if try Self.mayBeStored(sources, readAs: readAs, in: store), let hash = try Self.hashOfWholeInputs(sources),
            let earlier = try store.storedBatch(contentHash: hash, readAs: readAs)
        {
            var batch = Store.BatchSummary()
            batch.duplicateOfBatch = earlier
            return Summary(batch: batch, inputs: sources.map { ($0.name, $0.format, 0, SkippedLines()) }, unresolvedVM: 0)
        }
        var resolver = TraceResolver(vm: vm)
        let name = sources.map(\.name).joined(separator: " + ")
        let format = sources.count == 1 ? sources[0].format?.rawValue ?? "auto" : "merge"
        let batch = try store.ingestOnce(source: name, format: format, readAs: readAs) { writer in
            for source in sources { source.input = try writer.storeInput(named: source.name, reader: source.reader) }
            try merge(sources, resolver: &resolver, into: writer)
            return Store.contentHash(ofInputs: sources.map(\.contentHash))
        }
        return Summary(
            batch: batch, inputs: sources.map { ($0.name, $0.format, $0.records, $0.skipped) },
            unresolvedVM: batch.duplicateOfBatch == nil ? resolver.unresolvedVM : 0)
    }

    /// How the inputs were read, as far as it shapes the events: each input's format, the VM
    /// trace lines are given to, whether a source is added. Part of what makes two batches the
    /// same: the same bytes read another way are another batch.
    func readAs(_ sources: [IngestSource]) -> String {
        var words = sources.map { "format=" + ($0.format?.rawValue ?? "auto") }
        if let vm { words.append("vm=" + vm) }
        if let kernel { words.append("kernel=" + kernel.rawValue) }
        if !addsSource { words.append("verbatim") }
        return words.joined(separator: " ")
    }

    /// Whether `sources`, read as `readAs`, may be a batch `store` holds: false when one is a
    /// regular file of a size no input read that way has (`Store.mayHoldInputs`).
    static func mayBeStored(_ sources: [IngestSource], readAs: String, in store: Store) throws -> Bool {
        var sizes: [Int64] = []
        for source in sources {
            guard let size = source.sizeOfWholeFile() else { return true }
            sizes.append(size)
        }
        return try store.mayHoldInputs(sizes: sizes, readAs: readAs)
    }

    /// The batch's content hash computed before reading, when every input is a regular file.
    static func hashOfWholeInputs(_ sources: [IngestSource]) throws -> [UInt8]? {
        var hashes: [[UInt8]] = []
        for source in sources {
            guard let hash = try source.hashOfWholeFile() else { return nil }
            hashes.append(hash)
        }
        return Store.contentHash(ofInputs: hashes)
    }

    /// An input's next item, waiting to be appended, and where it was read.
    private struct Head {
        var read: PrefetchedSource.Read
        var at: Store.InputPosition?
    }

    /// A trace record's event as it is stored: read from a stored input, the trace line itself
    /// is kept there, where the event points (`history --original`), and the event names its
    /// file and line only; a `vm_create` names `kernel` when it names no profile.
    static func stored(_ event: Event, fromStoredInput: Bool, kernel: KernelProfile?) -> Event {
        var event = event
        if fromStoredInput { event.source?.text = nil }
        return kernel.map { event.namingKernel($0) } ?? event
    }

    /// Appends the items of `sources` to `writer`, smallest key first. Each input that is a
    /// regular file is read and decoded ahead on a thread of its own (`PrefetchedSource`),
    /// while this thread judges, hashes and writes.
    func merge(_ sources: [IngestSource], resolver: inout TraceResolver, into writer: Store.BatchWriter) throws {
        // Nothing here reads the event table between appends (EventRowBuffer).
        if defersEventRows { try writer.defersEventRows() }
        var prefetches: [PrefetchedSource?] = []
        // Whatever ends the batch, no reading thread outlives it.
        var archives: [InputArchive.Writer?] = []
        defer {
            for prefetch in prefetches { prefetch?.stop() }
            // The rest of each stored input is written by this thread (`finish`).
            for archive in archives { archive?.chunkReady = nil }
        }
        for source in sources {
            let archive = writer.inputs.first { $0.input == source.input }
            archive?.defersInserts = true
            // One input's events follow one another from the batch's head: its reading thread
            // can take their chain links ahead. Two inputs interleave.
            let chainHead = sources.count == 1 ? PrefetchedSource.ChainHead(hash: writer.hash, frontier: writer.forensic.frontier) : nil
            let prefetch = PrefetchedSource.start(source, kernel: kernel, chainHead: chainHead) { [archive] prefetch in
                archive?.chunkReady = { [unowned prefetch] in prefetch.chunkCompressed() }
            }
            if prefetch == nil {
                archive?.defersInserts = false
                archive?.chunkReady = nil
            }
            prefetches.append(prefetch)
            archives.append(archive)
        }
        // Lines and bytes read: a prefetched input's as of the item last taken.
        func linesRead(_ index: Int) -> UInt64 { prefetches[index]?.lines ?? sources[index].linesRead }
        func bytesRead(_ index: Int) -> UInt64 { prefetches[index]?.bytes ?? sources[index].bytesRead }
        // The heads, and their keys apart: choosing the next head reads keys only, and the
        // chosen head is moved out (`take`), not copied.
        var heads: [Head?] = []
        var keys = [Int64?](repeating: nil, count: sources.count)
        var lastKeys = [Int64](repeating: .min, count: sources.count)
        func advance(_ index: Int) throws -> Head? {
            let read: PrefetchedSource.Read
            if let prefetch = prefetches[index] {
                guard let next = try prefetch.next(writer: writer, storeChunks: { try archives[index]?.storeReadyChunks() }) else {
                    keys[index] = nil
                    return nil
                }
                read = next
            } else {
                guard let item = try sources[index].next(writer: writer) else {
                    keys[index] = nil
                    return nil
                }
                read = PrefetchedSource.Read(item: item)
            }
            let key = read.item.ts ?? lastKeys[index]
            lastKeys[index] = key
            keys[index] = key
            return Head(read: read, at: sources[index].input.map { Store.InputPosition(input: $0, line: linesRead(index)) })
        }
        for index in sources.indices { heads.append(try advance(index)) }
        var appended = 0
        while true {
            var chosen: Int?
            for index in keys.indices {
                guard let key = keys[index] else { continue }
                if let current = chosen, keys[current]! <= key { continue }
                chosen = index
            }
            guard let index = chosen else { return }
            let head = heads[index].take()!
            let position = head.at
            switch head.read.item {
            case .event(let event):
                do {
                    if let body = head.read.body {
                        _ = try writer.append(event, at: position, body: body)
                    } else {
                        try writer.append(kernel.map { event.namingKernel($0) } ?? event, at: position)
                    }
                } catch let refused as RetractionError {
                    // A `retract` line that cannot stand in this log: refused like a line that does not decode.
                    throw StoreError.decode(file: sources[index].name, line: linesRead(index), message: refused.description)
                }
            case .record(let record):
                if let prepared = head.read.prepared {
                    for (event, body) in prepared { _ = try writer.append(event, at: position, body: body) }
                } else {
                    let events = resolver.events(for: record, in: writer.state)
                    for event in events {
                        let stored = Self.stored(event, fromStoredInput: position != nil, kernel: kernel)
                        // The body made on the reading thread, when it guessed this very event.
                        if events.count == 1, let guessed = head.read.guessed, guessed.event == stored {
                            _ = try writer.append(stored, at: position, body: guessed.body)
                        } else {
                            try writer.append(stored, at: position)
                        }
                        if let prefetch = prefetches[index], let vm = TraceResolver.guestVM(of: stored) { prefetch.guessVM(vm) }
                    }
                }
            }
            prefetches[index]?.recycle(head.read)
            heads[index] = try advance(index)
            appended += 1
            if let progress, appended % 16_384 == 0 {
                progress(sources.indices.reduce(0) { $0 + bytesRead($1) }, sources.indices.reduce(0) { $0 + linesRead($1) })
            }
        }
    }
}
