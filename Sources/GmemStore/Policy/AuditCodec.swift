/// The binary form of an audit's resumable state: the engine state (`StateCodec`) and the
/// auditor's memory. Equal states give equal bytes.
public enum AuditCodec {
    static let magic: [UInt8] = Array("GMA1".utf8)

    public static func encode(_ auditor: Auditor) -> [UInt8] {
        var out = ByteWriter()
        out.bytes.append(contentsOf: magic)
        let state = StateCodec.encode(auditor.engine.state)
        out.varint(UInt64(state.count))
        out.bytes.append(contentsOf: state)
        let memory = auditor.memory
        out.varint(UInt64(memory.files.count))
        for file in memory.files {
            let runs = file.runs
            out.varint(UInt64(runs.count))
            for run in runs {
                out.varint(run.lower)
                out.varint(run.upper - run.lower)
                encode(run.value, into: &out)
            }
        }
        out.varint(UInt64(memory.vmDeath.count))
        for (vm, seq) in memory.vmDeath.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            out.string(vm)
            out.varint(UInt64(seq))
        }
        out.varint(UInt64(memory.unbound.count))
        for (vm, map) in memory.unbound.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            out.string(vm)
            let runs = map.runs
            out.varint(UInt64(runs.count))
            for run in runs {
                out.varint(run.lower)
                out.varint(run.upper - run.lower)
                out.varint(UInt64(run.value))
            }
        }
        out.varint(UInt64(memory.closed.count))
        for (file, seq) in memory.closed.sorted(by: { $0.key < $1.key }) {
            out.varint(UInt64(file))
            out.varint(UInt64(seq))
        }
        return out.bytes
    }

    private static func encode(_ page: PageMemory, into out: inout ByteWriter) {
        let fields = [
            page.tdPin, page.dmaPin, page.gupPin, page.mapped, page.accepted, page.tdRelease, page.madePrivate,
            page.failure, page.quarantined, page.exit,
        ]
        var present: UInt64 = 0
        for (bit, field) in fields.enumerated() where field != nil { present |= 1 << UInt64(bit) }
        out.varint(present)
        for field in fields { if let field { out.varint(UInt64(field)) } }
        out.byte(page.failureCause.rawValue)
    }

    /// Reads what `encode` wrote, into an auditor running `rules`.
    public static func decode(_ bytes: [UInt8], rules: [any Rule] = RuleCatalog.all) throws(StateCodec.DecodingError) -> Auditor {
        guard bytes.count >= 4, Array(bytes[0..<4]) == magic else {
            throw StateCodec.DecodingError(description: "not a gmem audit state")
        }
        var input = ByteReader(bytes: bytes)
        input.position = 4
        let stateLength = try input.count()
        let state = try StateCodec.decode(Array(bytes[input.position..<(input.position + stateLength)]))
        input.position += stateLength
        var memory = AuditMemory()
        for _ in 0..<(try input.count()) {
            var runs: [RangeMap<PageMemory>.Run] = []
            for _ in 0..<(try input.count()) {
                let lower = try input.varint()
                let length = try input.varint()
                runs.append(.init(lower, lower + length, try decodePage(&input)))
            }
            memory.files.append(RangeMap(sortedRuns: runs))
        }
        for _ in 0..<(try input.count()) {
            let vm = try input.string()
            memory.vmDeath[vm] = Int64(bitPattern: try input.varint())
        }
        for _ in 0..<(try input.count()) {
            let vm = try input.string()
            var runs: [RangeMap<Int64>.Run] = []
            for _ in 0..<(try input.count()) {
                let lower = try input.varint()
                let length = try input.varint()
                runs.append(.init(lower, lower + length, Int64(bitPattern: try input.varint())))
            }
            memory.unbound[vm] = RangeMap(sortedRuns: runs)
        }
        for _ in 0..<(try input.count()) {
            let file = Int(try input.varint())
            memory.closed[file] = Int64(bitPattern: try input.varint())
        }
        guard input.position == bytes.count else { throw StateCodec.DecodingError(description: "trailing bytes in audit state") }
        return Auditor(engine: Engine(state: state), memory: memory, rules: rules)
    }

    private static func decodePage(_ input: inout ByteReader) throws(StateCodec.DecodingError) -> PageMemory {
        let present = try input.varint()
        var values: [Int64?] = []
        for bit in 0..<10 {
            values.append(present & (1 << UInt64(bit)) != 0 ? Int64(bitPattern: try input.varint()) : nil)
        }
        var page = PageMemory()
        page.tdPin = values[0]
        page.dmaPin = values[1]
        page.gupPin = values[2]
        page.mapped = values[3]
        page.accepted = values[4]
        page.tdRelease = values[5]
        page.madePrivate = values[6]
        page.failure = values[7]
        page.quarantined = values[8]
        page.exit = values[9]
        page.failureCause = FailureCause(rawValue: try input.byte()) ?? .none
        return page
    }
}
