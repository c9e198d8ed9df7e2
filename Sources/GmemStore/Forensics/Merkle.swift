import Crypto
/// RFC 6962 Merkle tree hashing over the log: leaf = SHA-256(0x00 ‖ the event's canonical
/// body), node = SHA-256(0x01 ‖ left ‖ right). The tree of the first n events is the RFC's
/// MTH(D[0:n]); a root the user keeps for n events proves any earlier event's inclusion with
/// an audit path of about log2(n) hashes, independently of the hash chain.
public enum Merkle {
    /// Subtrees of 2^storedLevel events and larger are stored (`merkle_node`); smaller ones are
    /// recomputed from the bodies, at most 2^storedLevel of them per hash.
    public static let storedLevel = 10

    /// The leaf hash of an event body.
    public static func leafHash(body: String) -> [UInt8] {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0)) { hasher.update(bufferPointer: $0) }
        var body = body
        body.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    /// The hash of an inner node. One per event appended: its input is fed from the arrays'
    /// own bytes and its digest copied out as bytes (an array literal for the prefix and the
    /// digest read as a generic sequence cost about as much as the hash's two blocks).
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(1)) { hasher.update(bufferPointer: $0) }
        left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    /// The root of the empty tree: SHA-256 of nothing.
    public static var emptyRoot: [UInt8] { Array(SHA256.hash(data: [UInt8]())) }

    /// Checks an audit path (RFC 9162 §2.1.3.2): true when `leafHash` at 0-based `index` in a
    /// tree of `treeSize` leaves hashes up through `path` to `root`.
    public static func verifyInclusion(leafHash: [UInt8], index: UInt64, treeSize: UInt64, path: [[UInt8]], root: [UInt8]) -> Bool {
        guard index < treeSize else { return false }
        var fn = index
        var sn = treeSize - 1
        var r = leafHash
        for p in path {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }
}

/// The right edge of a growing Merkle tree: the roots of its complete subtrees, largest first
/// (one per set bit of the leaf count). Appending a leaf costs one hash plus one per subtree
/// it completes.
public struct MerkleFrontier: Sendable {
    /// A complete subtree of 2^level leaves.
    public struct Subtree: Equatable, Sendable {
        public var level: Int
        public var hash: [UInt8]
    }

    /// The number of leaves so far.
    public private(set) var count: UInt64 = 0
    public private(set) var subtrees: [Subtree] = []

    public init() {}

    /// Appends a complete subtree of 2^level leaves (a leaf is level 0); the count must be a
    /// multiple of 2^level. Calls `completed` with (level, index, hash) for every subtree this
    /// completes, the appended one included.
    public mutating func append(level: Int, hash: [UInt8], completed: (Int, UInt64, [UInt8]) throws -> Void) rethrows {
        precondition(count % (1 << UInt64(level)) == 0, "a subtree of 2^\(level) leaves must start on its own boundary")
        count += 1 << UInt64(level)
        var node = Subtree(level: level, hash: hash)
        try completed(level, (count >> UInt64(level)) - 1, hash)
        while let last = subtrees.last, last.level == node.level {
            subtrees.removeLast()
            node = Subtree(level: node.level + 1, hash: Merkle.nodeHash(last.hash, node.hash))
            try completed(node.level, (count >> UInt64(node.level)) - 1, node.hash)
        }
        subtrees.append(node)
    }

    /// `append(level:hash:completed:)` with the inner nodes the subtree completes already
    /// hashed (`nodes`, lowest first): by an ingest's reading thread, on a copy of this frontier
    /// (`CanonicalBody.chained`). They are taken when there is one for each subtree the append
    /// completes, and hashed here otherwise. The caller vouches that the copy held the same
    /// leaves (the ingest: its chain head is the link the reading thread chained after).
    mutating func append(level: Int, hash: [UInt8], nodes: [[UInt8]], completed: (Int, UInt64, [UInt8]) throws -> Void) rethrows {
        var completes = 0
        while completes < subtrees.count, subtrees[subtrees.count - 1 - completes].level == level + completes { completes += 1 }
        guard completes == nodes.count else { return try append(level: level, hash: hash, completed: completed) }
        precondition(count % (1 << UInt64(level)) == 0, "a subtree of 2^\(level) leaves must start on its own boundary")
        count += 1 << UInt64(level)
        try completed(level, (count >> UInt64(level)) - 1, hash)
        var top = Subtree(level: level, hash: hash)
        for node in nodes {
            subtrees.removeLast()
            top = Subtree(level: top.level + 1, hash: node)
            try completed(top.level, (count >> UInt64(top.level)) - 1, node)
        }
        subtrees.append(top)
    }

    /// Appends a complete subtree of 2^level leaves (a leaf is level 0).
    public mutating func append(level: Int, hash: [UInt8]) {
        append(level: level, hash: hash) { _, _, _ in }
    }

    /// MTH of the leaves so far (RFC 6962 §2.1).
    public var root: [UInt8] {
        guard var hash = subtrees.last?.hash else { return Merkle.emptyRoot }
        for subtree in subtrees.dropLast().reversed() { hash = Merkle.nodeHash(subtree.hash, hash) }
        return hash
    }
}
