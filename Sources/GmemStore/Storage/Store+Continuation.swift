import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// A store that continues another: the next link of a chain of stores (`watch --rotate`,
/// docs/STORE.md "A chain of stores").
///
/// Its seqs start again at 1, but its first event chains from a **genesis** that is bound to the
/// store it continues: SHA-256(that store's head hash ‖ the continuation record), where the
/// record (canonical JSON, in `setting` under `continues`) names the store, its head seq and hash,
/// and the SHA-256 of the engine state there. That state is the new store's snapshot at seq 0
/// (closed files in `closed_file` at seq 0, as every snapshot keeps them), so its engine, audit and
/// queries go on from where the old store stopped. Changing the record or the seq-0 state changes
/// the genesis, and with it every hash of the store: `verify` sees it in the store alone, and
/// `verify A.db B.db …` checks each link against the store before it.
///
/// A continuing store audits with the engine state carried over and a fresh auditor memory: a
/// finding names related events of its own store only.
public struct Continuation: Equatable, Sendable {
    /// The store continued, as named when the link was made (its file name).
    public var store: String
    /// The continued store's head: its last seq and that event's hash.
    public var seq: Int64
    public var head: [UInt8]
    /// SHA-256 of the engine state after `seq` (`StateCodec`, closed files with their pages).
    public var stateDigest: [UInt8]

    /// The record as stored and hashed: canonical JSON (keys sorted, hex in lower case).
    public var record: String {
        JSONWriter.string(.object([
            JSONMember("head", .string(HashChain.hex(head))),
            JSONMember("seq", .number(String(seq))),
            JSONMember("state", .string(HashChain.hex(stateDigest))),
            JSONMember("store", .string(store)),
        ]))
    }

    /// What the continuing store's first event chains from.
    public var genesis: [UInt8] { HashChain.link(previous: head, body: record) }

    /// The record read back; nil when `text` is not one.
    public init?(record text: String) {
        guard case .object(let members)? = try? JSONParser.parse(text) else { return nil }
        var fields: [String: JSONValue] = [:]
        for member in members { fields[member.key] = member.value }
        guard case .string(let store)? = fields["store"], case .number(let seqText)? = fields["seq"], let seq = Int64(seqText), seq >= 0,
            case .string(let headText)? = fields["head"], let head = HashChain.bytes(hex: headText), head.count == 32,
            case .string(let stateText)? = fields["state"], let state = HashChain.bytes(hex: stateText), state.count == 32,
            fields.count == 4
        else { return nil }
        self.init(store: store, seq: seq, head: head, stateDigest: state)
    }

    public init(store: String, seq: Int64, head: [UInt8], stateDigest: [UInt8]) {
        self.store = store
        self.seq = seq
        self.head = head
        self.stateDigest = stateDigest
    }

    /// The digest the record keeps of an engine state.
    public static func digest(of state: GmemState) -> [UInt8] {
        Array(SHA256.hash(data: StateCodec.encode(state)))
    }
}

extension Store {
    /// The `setting` key of the continuation record.
    static let continuationKey = "continues"

    /// Creates a new store at `path` that continues `previous` from its head: the chain of
    /// hashes, the engine state and the seq count go on from there (`Continuation`). `previous`
    /// is only read; `name` is how the record names it (default: its file name). The path must
    /// not exist. The returned store is open for writing; ingest into it as into any store.
    public static func createContinuing(from previous: Store, at path: String, name: String? = nil) throws -> Store {
        guard path != ":memory:", access(path, F_OK) != 0 else {
            throw StoreError.unreadableInput(path: path, reason: "it exists; a continuing store is always a new file")
        }
        let (link, state) = try previous.database.readTransaction { () throws -> ((seq: Int64, hash: [UInt8]), GmemState) in
            let link = try previous.headLink()
            return (link, try previous.engine(at: link.seq).state)
        }
        let continuation = Continuation(
            store: name ?? previous.fileName, seq: link.seq, head: link.hash, stateDigest: Continuation.digest(of: state))
        let store = try Store(path: path, access: .readWrite)
        try store.database.writeTransaction { () throws in
            guard try (store.database.scalarInt("SELECT count(*) FROM event") ?? 0) == 0, try store.continuation() == nil else {
                throw StoreError.unreadableInput(path: path, reason: "another process wrote it first; a continuing store starts empty")
            }
            let insert = try store.database.cached("INSERT INTO setting(key, value) VALUES (?, ?)")
            try insert.bind(1, continuationKey)
            try insert.bind(2, continuation.record)
            try insert.run()
            var closed = Set(state.files.indices.filter { !state.files[$0].isOpen })
            try store.writeSnapshot(seq: 0, state: state, changedClosedFiles: &closed)
        }
        return store
    }

    /// The continuation record of this store, or nil for a store that starts a chain.
    public func continuation() throws -> Continuation? {
        guard let text = try continuationRecord() else { return nil }
        guard let continuation = Continuation(record: text) else {
            throw StoreError.decode(file: "setting", line: 0, message: "the continuation record is not one: \(text)")
        }
        return continuation
    }

    /// The stored continuation record's text.
    func continuationRecord() throws(SQLiteError) -> String? {
        let statement = try database.cached("SELECT value FROM setting WHERE key = ?")
        defer { statement.reset() }
        try statement.bind(1, Self.continuationKey)
        return try statement.step() ? statement.string(0) : nil
    }

    /// What the first event chains from: 32 zero bytes, or a continuing store's genesis. A record
    /// that cannot be read gives the zero genesis (`verify` reports the record).
    func genesisHash() throws(SQLiteError) -> [UInt8] {
        guard let text = try continuationRecord(), let continuation = Continuation(record: text) else { return HashChain.genesis }
        return continuation.genesis
    }

    /// The engine before seq 1: empty, or the state a continuing store carried over (its
    /// snapshot at seq 0).
    public func genesisEngine(kernelOverride: KernelProfile? = nil) throws -> Engine {
        guard try continuationRecord() != nil else { return Engine(kernelOverride: kernelOverride) }
        let start = try snapshot(atOrBefore: 0)
        return Engine(state: start.state, kernelOverride: kernelOverride)
    }

    /// The file name of the store (the last component of its path).
    var fileName: String {
        let path = database.path
        return path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    }
}
