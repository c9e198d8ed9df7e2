import GmemStore

/// The rows a gmem ingest writes for a log, computed once outside any timing so that the raw
/// C baseline inserts exactly the same bytes: every `event` row (canonical body, chained hash,
/// verdict) and every `event_touch` row.
struct EventRows {
    /// Short text values (op names, hosts, outcomes, gmem ids) stored once, as UTF-8.
    var texts: [[UInt8]] = []
    private var textIndex: [String: Int32] = [:]

    var ts: [Int64?] = []
    var op: [Int32] = []
    var host: [Int32] = []
    var producerID: [Int32] = []  // -1: none
    var bodies: [UInt8] = []
    var bodyEnds: [Int] = []
    var hashes: [UInt8] = []
    var expected: [Int32] = []  // -1: none
    var expectedErrorOffset: [Int64?] = []
    var diverged: [Bool] = []

    /// `event_touch`: seq, gmem (text index), first page, end page.
    var touches: [(seq: Int64, gmem: Int32, lower: Int64, upper: Int64)] = []

    /// The engine after the last event, and the head hash.
    var engine = Engine()
    var headHash = HashChain.genesis

    var count: Int { op.count }
    var bodyBytes: Int { bodies.count }

    mutating func intern(_ text: String) -> Int32 {
        if let index = textIndex[text] { return index }
        texts.append(Array(text.utf8))
        textIndex[text] = Int32(texts.count - 1)
        return Int32(texts.count - 1)
    }

    /// Appends the rows of `event`, judged against the state the events before it left.
    mutating func append(_ event: Event) {
        let verdict = engine.apply(event)
        let body = event.canonicalJSON
        headHash = HashChain.link(previous: headHash, body: body)
        let seq = Int64(count + 1)
        ts.append(event.ts)
        op.append(intern(event.op.name))
        host.append(intern(event.host))
        producerID.append(event.id.map { intern($0) } ?? -1)
        bodies.append(contentsOf: body.utf8)
        bodyEnds.append(bodies.count)
        hashes.append(contentsOf: headHash)
        expected.append(verdict.expected.map { intern($0) } ?? -1)
        expectedErrorOffset.append(verdict.expectedErrorOffset.map { Int64(bitPattern: $0) })
        diverged.append(verdict.diverged)
        for piece in verdict.pieces {
            touches.append((
                seq, intern(engine.state.files[piece.file].name), Int64(bitPattern: piece.pages.lowerBound),
                Int64(bitPattern: piece.pages.upperBound)))
        }
    }

    func bodyRange(_ row: Int) -> Range<Int> { (row == 0 ? 0 : bodyEnds[row - 1])..<bodyEnds[row] }
}
