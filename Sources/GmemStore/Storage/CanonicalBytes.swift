import Crypto

extension Event {
    /// Appends the event's canonical JSON (the bytes of `canonicalJSON`) to `out`. The batch
    /// writer writes every event into one reused buffer and hashes it from there, so no
    /// `String` is built per event.
    func appendCanonicalJSON(to out: inout [UInt8]) {
        if extra.isEmpty {
            CanonicalEventWriter.write(self, into: &out)
        } else {
            out.append(contentsOf: canonicalJSON.utf8)
        }
    }
}

extension HashChain {
    /// The chain link SHA-256(previous ‖ body) of canonical bytes: `link(previous:body:)`
    /// without a `String`.
    static func link(previous: [UInt8], canonical body: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        previous.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        body.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }
}

extension Merkle {
    /// The leaf hash SHA-256(0x00 ‖ body) of canonical bytes: `leafHash(body:)` without a
    /// `String`.
    static func leafHash(canonical body: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0)) { hasher.update(bufferPointer: $0) }
        body.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }
}

/// An event's canonical JSON bytes and their Merkle leaf hash, made ahead of the append on the
/// thread that read the event (`PrefetchedSource`): the batch's thread then only chains them.
struct CanonicalBody: Sendable {
    var bytes: [UInt8]
    var leaf: [UInt8]
    /// The chain link this body makes after `previous`, taken ahead by the reading thread on
    /// the guess that the events of its input are appended one after another from the head the
    /// batch started at. The batch's thread takes `link` only when its own head is `previous`
    /// (an event skipped as a duplicate, or another input's between, breaks the guess) and
    /// hashes the body itself otherwise, so the chain is the same either way. With it, the inner
    /// Merkle nodes its leaf completes (lowest first), hashed on the same guess from the
    /// frontier the batch started at: a head that is `previous` means the batch appended the
    /// same leaves since then, so its frontier is the one they were hashed on.
    var chained: (previous: [UInt8], link: [UInt8], nodes: [[UInt8]])?

    init(of event: Event) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        event.appendCanonicalJSON(to: &bytes)
        self.bytes = bytes
        leaf = Merkle.leafHash(canonical: bytes)
    }

    /// The body with its link after `previous` taken and its leaf appended to `frontier`, the
    /// inner nodes that completes kept (`chained`).
    func chained(after previous: [UInt8], frontier: inout MerkleFrontier) -> CanonicalBody {
        var body = self
        var nodes: [[UInt8]] = []
        frontier.append(level: 0, hash: leaf) { level, _, hash in
            if level > 0 { nodes.append(hash) }
        }
        body.chained = (previous, HashChain.link(previous: previous, canonical: bytes), nodes)
        return body
    }

    /// The chain link after `head`, and the inner Merkle nodes of its leaf: the ones taken
    /// ahead when they were taken after `head` (else nil: the caller hashes them).
    func link(after head: [UInt8]) -> (link: [UInt8], nodes: [[UInt8]]?) {
        if let chained, chained.previous == head { return (chained.link, chained.nodes) }
        return (HashChain.link(previous: head, canonical: bytes), nil)
    }
}
