import CSHA256
import Foundation
import Testing
@testable import GmemStore

/// gmem's own SHA-256 gives FIPS 180-4's digests, on the SHA extensions and in portable C alike,
/// whatever the lengths and however the input is split into updates.
@Suite(.serialized) struct Sha256Tests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// FIPS 180-4 / NIST CAVP examples, and the lengths around a block's padding boundary.
    static let vectors: [(input: [UInt8], digest: String)] = [
        ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        (Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8),
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        ([UInt8](repeating: 0x61, count: 1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ]

    @Test(arguments: [false, true]) func fipsVectors(portable: Bool) {
        gmem_sha256_force_portable(portable ? 1 : 0)
        defer { gmem_sha256_force_portable(0) }
        for (input, digest) in Self.vectors {
            #expect(Self.hex(SHA256.hash(data: input)) == digest, "\(input.count) bytes")
        }
    }

    /// Every length from 0 to 300 bytes and a few large ones, fed whole and in random pieces,
    /// on both compression functions: one digest.
    @Test func bothCompressionsAndEverySplitAgree() {
        var generator = SystemRandomNumberGenerator()
        for length in Array(0...300) + [4095, 4096, 4097, 65_536 + 17] {
            let input = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            gmem_sha256_force_portable(1)
            let portable = SHA256.hash(data: input)
            gmem_sha256_force_portable(0)
            let native = SHA256.hash(data: input)
            var pieces = SHA256()
            var start = 0
            while start < length {
                let end = min(length, start + Int.random(in: 0...130, using: &generator))
                pieces.update(data: Array(input[start..<end]))
                start = end
            }
            #expect(native == portable, "\(length) bytes: the SHA extensions and portable C differ")
            #expect(pieces.finalize() == portable, "\(length) bytes in pieces")
        }
    }

    /// `finalize` leaves the hash going on: the digest of a prefix, then of the whole.
    @Test func finalizeDoesNotEndTheHash() {
        var hasher = SHA256()
        hasher.update(data: Array("ab".utf8))
        #expect(Self.hex(hasher.finalize()) == Self.hex(SHA256.hash(data: Array("ab".utf8))))
        hasher.update(data: Array("c".utf8))
        #expect(Self.hex(hasher.finalize()) == Self.vectors[1].digest)
    }

    /// On this machine's CPU, which compression runs (for the record; both are checked above).
    @Test func reportsWhichCompressionRuns() {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        if flags.contains(" sha_ni") {
            #expect(gmem_sha256_uses_sha_extensions() == 1, "the CPU has SHA-NI but the portable code runs")
        }
    }
}
