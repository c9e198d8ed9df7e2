extension Store {
    /// The first batch whose input's bytes had the SHA-256 `contentHash` (the `content_hash`
    /// of the batch table), or nil. Lets an ingest recognise an input it already holds before
    /// reading it, instead of reading it all only to roll it back.
    public func batch(withContentHash contentHash: [UInt8]) throws -> Int64? {
        let statement = try database.cached("SELECT id FROM batch WHERE content_hash = ? ORDER BY id LIMIT 1")
        defer { statement.reset() }
        try statement.bind(1, contentHash)
        return try statement.step() ? statement.int(0) : nil
    }
}
