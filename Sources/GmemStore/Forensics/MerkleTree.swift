/// An audit path that proves one event is in the tree of the first `treeSize` events.
public struct InclusionProof: Equatable, Sendable {
    /// The event's seq (its 0-based leaf index is seq - 1).
    public var seq: Int64
    /// The number of events in the tree: the checkpoint's size.
    public var treeSize: Int64
    /// SHA-256(0x00 ‖ canonical body) of the event.
    public var leafHash: [UInt8]
    /// Sibling hashes from the leaf up to the root (RFC 6962 PATH).
    public var path: [[UInt8]]
    /// MTH of the first `treeSize` events.
    public var root: [UInt8]

    /// True when the path hashes the leaf up to the root.
    public var isValid: Bool {
        guard seq >= 1, treeSize >= 1 else { return false }
        return Merkle.verifyInclusion(leafHash: leafHash, index: UInt64(seq - 1), treeSize: UInt64(treeSize), path: path, root: root)
    }
}

/// Merkle roots and inclusion proofs over a store's events, from the stored subtree roots
/// (`merkle_node`) and, for subtrees smaller than 2^`Merkle.storedLevel`, the event bodies.
/// - Complexity: O(log n) stored lookups and at most 2 · 2^storedLevel leaf hashes per proof.
public struct MerkleTree {
    public let store: Store

    public init(store: Store) {
        self.store = store
    }

    /// Why a proof cannot be made.
    public struct OutOfRange: Error, CustomStringConvertible {
        public var description: String
    }

    /// MTH(D[0:size]) of the first `size` events.
    public func root(size: Int64) throws -> [UInt8] {
        size == 0 ? Merkle.emptyRoot : try hash(0, UInt64(size))
    }

    /// The inclusion proof of event `seq` in the tree of the first `treeSize` events.
    public func proof(seq: Int64, treeSize: Int64) throws -> InclusionProof {
        let head = try store.headLink().seq
        guard treeSize >= 1, treeSize <= head else {
            throw OutOfRange(description: "tree size \(treeSize) is not within the log's 1…\(head) events")
        }
        guard seq >= 1, seq <= treeSize else {
            throw OutOfRange(description: "seq \(seq) is not within the tree's seqs 1…\(treeSize)")
        }
        var path: [[UInt8]] = []
        try auditPath(UInt64(seq - 1), 0, UInt64(treeSize), into: &path)
        let leaf = try leafHashes(UInt64(seq - 1), UInt64(seq))[0]
        return InclusionProof(seq: seq, treeSize: treeSize, leafHash: leaf, path: path, root: try root(size: treeSize))
    }

    /// RFC 6962 PATH(m, D[lo:hi]), deepest sibling first.
    private func auditPath(_ m: UInt64, _ lo: UInt64, _ hi: UInt64, into path: inout [[UInt8]]) throws {
        let n = hi - lo
        guard n > 1 else { return }
        let k = largestPowerOfTwo(below: n)
        if m < lo + k {
            try auditPath(m, lo, lo + k, into: &path)
            path.append(try hash(lo + k, hi))
        } else {
            try auditPath(m, lo + k, hi, into: &path)
            path.append(try hash(lo, lo + k))
        }
    }

    /// MTH(D[lo:hi]) over 0-based leaf indexes.
    func hash(_ lo: UInt64, _ hi: UInt64) throws -> [UInt8] {
        let n = hi - lo
        if n.nonzeroBitCount == 1 {
            let level = n.trailingZeroBitCount
            if level >= Merkle.storedLevel, lo % n == 0, let stored = try storedNode(level: level, index: lo / n) { return stored }
        }
        if n <= 1 << UInt64(Merkle.storedLevel) {
            var frontier = MerkleFrontier()
            for leaf in try leafHashes(lo, hi) { frontier.append(level: 0, hash: leaf) }
            return frontier.root
        }
        let k = largestPowerOfTwo(below: n)
        return Merkle.nodeHash(try hash(lo, lo + k), try hash(lo + k, hi))
    }

    private func storedNode(level: Int, index: UInt64) throws -> [UInt8]? {
        let statement = try store.database.cached("SELECT hash FROM merkle_node WHERE level = ? AND idx = ?")
        defer { statement.reset() }
        try statement.bind(1, Int64(level))
        try statement.bind(2, Int64(index))
        return try statement.step() ? statement.blob(0) : nil
    }

    private func leafHashes(_ lo: UInt64, _ hi: UInt64) throws -> [[UInt8]] {
        var leaves: [[UInt8]] = []
        leaves.reserveCapacity(Int(hi - lo))
        try store.forEachEvent(in: Int64(lo + 1)...Int64(hi)) { stored in
            leaves.append(Merkle.leafHash(body: stored.body))
            return true
        }
        guard leaves.count == Int(hi - lo) else {
            throw OutOfRange(description: "seqs \(lo + 1)…\(hi) are not all in the log (it has a gap: run verify)")
        }
        return leaves
    }

    private func largestPowerOfTwo(below n: UInt64) -> UInt64 {
        precondition(n > 1)
        return 1 << UInt64(63 - (n - 1).leadingZeroBitCount)
    }
}
