import CSHA256

/// SHA-256 (FIPS 180-4), the hash of the log's chain, its Merkle tree and each input's
/// identity. The compression runs on the CPU's SHA extensions where it has them (as fast as
/// OpenSSL's), in portable C elsewhere (Sources/CSHA256). It replaces swift-crypto, of which
/// gmem used this one function while every cold build compiled all of BoringSSL for it.
struct SHA256 {
    private var context = gmem_sha256()

    init() { gmem_sha256_init(&context) }

    /// Hashes `data` after what was hashed so far.
    mutating func update(data: [UInt8]) {
        data.withUnsafeBytes { update(bufferPointer: $0) }
    }

    /// Hashes the bytes at `bufferPointer` after what was hashed so far.
    mutating func update(bufferPointer: UnsafeRawBufferPointer) {
        guard let base = bufferPointer.baseAddress, bufferPointer.count > 0 else { return }
        gmem_sha256_update(&context, base, bufferPointer.count)
    }

    /// The 32-byte digest of everything hashed so far; the hash can go on after it.
    func finalize() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { digest, count in
            withUnsafePointer(to: context) { gmem_sha256_final($0, digest.baseAddress!) }
            count = 32
        }
    }

    /// The digest of `data`.
    static func hash(data: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: data)
        return hasher.finalize()
    }
}
