import Testing
@testable import GmemStore

/// The Merkle tree over the log is RFC 6962's, whatever the batches were; its inclusion proofs
/// check against the root and fail for any other leaf, index or root.
@Suite struct MerkleProofTests {
    /// MTH(D[lo:hi]) straight from RFC 6962 §2.1.
    func referenceRoot(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.isEmpty { return Merkle.emptyRoot }
        if leaves.count == 1 { return leaves.first! }
        var k = 1
        while k * 2 < leaves.count { k *= 2 }
        let start = leaves.startIndex
        return Merkle.nodeHash(referenceRoot(leaves[start..<(start + k)]), referenceRoot(leaves[(start + k)...]))
    }

    @Test func knownVectorsOfRFC6962() {
        // The empty tree and a one-leaf tree of the empty string (certificate-transparency-go).
        #expect(HashChain.hex(Merkle.emptyRoot) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(HashChain.hex(Merkle.leafHash(body: "")) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    }

    @Test func storedRootsAndProofsMatchTheRFC() throws {
        let temporary = try TemporaryStore()
        let store = try temporary.open()
        let lines = generatedLog(events: 3100, seed: 8, gmemSize: 16 << 20).split(separator: "\n")
        // Batches of odd sizes, so that subtrees complete across batch boundaries.
        var start = 0
        for size in [1, 700, 1023, 377, 999] {
            try ingest(lines[start..<min(start + size, lines.count)].joined(separator: "\n"), name: "part\(start).jsonl", into: store)
            start += size
        }
        let leaves = try storedEvents(store).map { Merkle.leafHash(body: $0.body) }
        #expect(leaves.count == 3100)
        #expect(try store.database.scalarInt("SELECT count(*) FROM merkle_node") == 4)  // 3 of level 10, 1 of level 11
        let tree = MerkleTree(store: store)
        for size in [1, 2, 3, 1023, 1024, 1025, 2048, 2049, 3072, 3100] {
            #expect(try tree.root(size: Int64(size)) == referenceRoot(leaves[0..<size]), "size \(size)")
        }
        #expect(try Verifier(store: store).run().merkleRoot == "3100:" + HashChain.hex(referenceRoot(leaves[...])))
        for (seq, size) in [(1, 1), (1, 3100), (5, 8), (1024, 1024), (1025, 3100), (2047, 2049), (3100, 3100), (777, 1500)] as [(Int64, Int64)] {
            let proof = try tree.proof(seq: seq, treeSize: size)
            #expect(proof.isValid, "seq \(seq) in \(size)")
            #expect(proof.root == referenceRoot(leaves[0..<Int(size)]))
            #expect(proof.leafHash == leaves[Int(seq - 1)])
            // Another leaf, another position or another root does not check.
            var forged = proof
            forged.leafHash = leaves[Int(seq) % Int(size)]
            #expect(!forged.isValid || size == 1, "wrong leaf for seq \(seq)")
            forged = proof
            forged.seq = seq == size ? seq - 1 : seq + 1
            #expect(!forged.isValid || size == 1, "wrong index for seq \(seq)")
            forged = proof
            forged.root[0] ^= 0x80
            #expect(!forged.isValid)
        }
        #expect(throws: MerkleTree.OutOfRange.self) { try tree.proof(seq: 3101, treeSize: 3100) }
        #expect(throws: MerkleTree.OutOfRange.self) { try tree.proof(seq: 1, treeSize: 3101) }
    }

    @Test func missingSubtreeRootsAreRebuiltByTheNextIngest() throws {
        let temporary = try TemporaryStore()
        var store: Store? = try temporary.open()
        let lines = generatedLog(events: 2200, seed: 4, gmemSize: 16 << 20).split(separator: "\n")
        try ingest(lines[0..<2100].joined(separator: "\n"), name: "a.jsonl", into: store!)
        let root = try MerkleTree(store: store!).root(size: 2100)
        try store!.database.execute("DELETE FROM merkle_node")
        store = nil
        store = try temporary.open()
        try ingest(lines[2100...].joined(separator: "\n"), name: "b.jsonl", into: store!)
        #expect(try store!.database.scalarInt("SELECT count(*) FROM merkle_node") == 3)
        #expect(try MerkleTree(store: store!).root(size: 2100) == root)
        #expect(try Verifier(store: store!).run().passed)
    }
}
