/// Where `watch` stopped reading one source, kept in the store's `setting` table under
/// `watch:source:NAME` and written in the same transaction as the batch it ends, so that the
/// events and the position can never disagree (like `ausearch --checkpoint`: the file's inode,
/// the offset, the last line's hash; here also the hash of everything before the offset, which
/// proves on restart that the file still holds what was read).
///
/// For a stream (standard input, a FIFO, `trace_pipe`) there is no position to return to: the
/// checkpoint says only whether a `watch` had it open. One still open when the next `watch`
/// starts was not stopped cleanly, and what it had read but not committed is lost.
public struct WatchCheckpoint: Equatable, Sendable {
    public var kind: FollowedInput.Kind
    public var device: UInt64 = 0
    public var inode: UInt64 = 0
    public var offset: UInt64 = 0
    public var line: UInt64 = 0
    /// SHA-256 of the last line read, with its line end.
    public var lastLineHash: [UInt8] = []
    /// SHA-256 of the file's bytes from its start to `offset`.
    public var prefixHash: [UInt8] = []
    /// A stream a `watch` is reading (1 between its start and its clean stop).
    public var open = false
    /// The seq of the log's head when the checkpoint was written.
    public var seq: Int64 = 0

    public init(kind: FollowedInput.Kind) {
        self.kind = kind
    }

    /// The `setting` key of a source's checkpoint.
    public static func key(for name: String) -> String { "watch:source:" + name }
    /// The `setting` key of the last seq whose findings `watch` printed.
    public static let reportedKey = "watch:reported"
    /// The `setting` key prefix of a whole-file identity (see `WatchSession`).
    public static let wholePrefix = "watch:whole:"

    /// The checkpoint as stored: `word=value` pairs separated by spaces.
    public var text: String {
        var words = ["kind=" + kind.rawValue]
        switch kind {
        case .file:
            words += [
                "dev=\(device)", "inode=\(inode)", "offset=\(offset)", "line=\(line)",
                "last_line_sha256=" + HashChain.hex(lastLineHash), "prefix_sha256=" + HashChain.hex(prefixHash),
            ]
        case .stream:
            words.append("open=\(open ? 1 : 0)")
        }
        words.append("seq=\(seq)")
        return words.joined(separator: " ")
    }

    /// Reads a stored checkpoint; nil when it is not one.
    public init?(text: String) {
        var fields: [Substring: Substring] = [:]
        for word in text.split(separator: " ") {
            guard let equals = word.firstIndex(of: "=") else { return nil }
            fields[word[..<equals]] = word[word.index(after: equals)...]
        }
        guard let kindName = fields["kind"], let kind = FollowedInput.Kind(rawValue: String(kindName)) else { return nil }
        self.kind = kind
        func number(_ name: Substring) -> UInt64? { fields[name].flatMap { UInt64($0) } }
        seq = fields["seq"].flatMap { Int64($0) } ?? 0
        switch kind {
        case .file:
            guard let device = number("dev"), let inode = number("inode"), let offset = number("offset"), let line = number("line"),
                let last = fields["last_line_sha256"].flatMap({ HashChain.bytes(hex: String($0)) }), let prefix = fields["prefix_sha256"].flatMap({ HashChain.bytes(hex: String($0)) })
            else { return nil }
            (self.device, self.inode, self.offset, self.line, lastLineHash, prefixHash) = (device, inode, offset, line, last, prefix)
        case .stream:
            open = fields["open"] == "1"
        }
    }
}

extension Store {
    /// A `setting` value.
    func setting(_ key: String) throws(SQLiteError) -> String? {
        let statement = try database.cached("SELECT value FROM setting WHERE key = ?")
        defer { statement.reset() }
        try statement.bind(1, key)
        return try statement.step() ? statement.string(0) : nil
    }

    /// Sets a `setting` value (inside the caller's transaction, when there is one).
    func setSetting(_ key: String, _ value: String) throws(SQLiteError) {
        let statement = try database.cached("INSERT OR REPLACE INTO setting(key, value) VALUES (?, ?)")
        try statement.bind(1, key)
        try statement.bind(2, value)
        try statement.run()
    }

    /// The checkpoint `watch` left for the source `name`.
    public func watchCheckpoint(_ name: String) throws -> WatchCheckpoint? {
        try setting(WatchCheckpoint.key(for: name)).flatMap(WatchCheckpoint.init(text:))
    }

    /// The batch after which `watch` had consumed, whole and read this way, inputs whose batch
    /// content hash is `contentHash` (see `WatchSession`); nil when it has not.
    func watchedWhole(contentHash: [UInt8], readAs: String, before batch: Int64) throws(SQLiteError) -> Int64? {
        guard let value = try setting(WatchCheckpoint.wholePrefix + readAs + ":" + HashChain.hex(contentHash)), let id = Int64(value), id < batch else {
            return nil
        }
        return id
    }
}
