/// The compact binary form of an event and the outcome recorded for it, carried by each row of
/// the page overlap index (`page_event`, migration 0004): what a page's history needs to replay
/// the event and print its line, read from the index row itself instead of a random lookup and
/// a JSON parse of the event's body.
///
/// It leaves out what only the body holds: the producer id, the note, the source and unknown
/// fields. The canonical body stays the evidence; a history that prints bodies reads them.
public enum EventForm {
    /// The first byte of every form; a future layout takes another.
    static let layout: UInt8 = 1

    /// An event as a history replays it: the event and its recorded outcome.
    public struct Recorded: Equatable, Sendable {
        /// The event without its id, note, source and unknown fields.
        public var event: Event
        public var expected: String?
        public var expectedErrorOffset: Int64?
        public var diverged: Bool
    }

    /// Why a stored form could not be read.
    public struct DecodingError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func encode(_ event: Event, expected: String?, expectedErrorOffset: UInt64?, diverged: Bool) -> [UInt8] {
        var out = ByteWriter()
        out.bytes.reserveCapacity(48)
        out.byte(layout)
        encode(event.op, into: &out)
        var flags: UInt8 = 0
        if event.ts != nil { flags |= 1 }
        if event.result != nil { flags |= 2 }
        if event.errorOffset != nil { flags |= 4 }
        if expected != nil { flags |= 8 }
        if expectedErrorOffset != nil { flags |= 16 }
        if diverged { flags |= 32 }
        if event.actor != event.op.defaultActor { flags |= 64 }
        if event.host != "local" { flags |= 128 }
        out.byte(flags)
        if let ts = event.ts { out.varint(UInt64(bitPattern: ts)) }
        if let result = event.result { out.string(result) }
        if let errorOffset = event.errorOffset { out.varint(errorOffset) }
        if let expected { out.string(expected) }
        if let expectedErrorOffset { out.varint(expectedErrorOffset) }
        if flags & 64 != 0 { out.string(event.actor) }
        if flags & 128 != 0 { out.string(event.host) }
        return out.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodingError) -> Recorded {
        var input = ByteReader(bytes: bytes, what: "event form")
        do {
            guard try input.byte() == layout else { throw DecodingError(description: "event form has unknown layout \(bytes[0])") }
            let op = try decodeOperation(&input)
            let flags = try input.byte()
            let ts = flags & 1 != 0 ? Int64(bitPattern: try input.varint()) : nil
            let result = flags & 2 != 0 ? try input.string() : nil
            let errorOffset = flags & 4 != 0 ? try input.varint() : nil
            let expected = flags & 8 != 0 ? try input.string() : nil
            let expectedErrorOffset = flags & 16 != 0 ? Int64(bitPattern: try input.varint()) : nil
            let actor = flags & 64 != 0 ? try input.string() : nil
            let host = flags & 128 != 0 ? try input.string() : "local"
            guard input.position == bytes.count else { throw DecodingError(description: "event form has \(bytes.count - input.position) bytes left over") }
            let event = Event(op, ts: ts, host: host, actor: actor, result: result, errorOffset: errorOffset)
            return Recorded(event: event, expected: expected, expectedErrorOffset: expectedErrorOffset, diverged: flags & 32 != 0)
        } catch let error as DecodingError {
            throw error
        } catch {
            throw DecodingError(description: String(describing: error))
        }
    }

    private enum Tag: UInt8 {
        case vmCreate, vmDestroy, vmBugged, gmemCreate, gmemClose, bind, unbind, populate, punchHole, map, zap
        case convertRequest, convert, accept, pin, release, hostAccess, reuse, mce, context
    }

    private static func encode(_ op: Operation, into out: inout ByteWriter) {
        switch op {
        case .vmCreate(let vm, let type, let tdxConnect):
            out.byte(Tag.vmCreate.rawValue)
            out.string(vm)
            out.string(type)
            out.byte(tdxConnect ? 1 : 0)
        case .vmDestroy(let vm):
            out.byte(Tag.vmDestroy.rawValue)
            out.string(vm)
        case .vmBugged(let vm, let reason):
            out.byte(Tag.vmBugged.rawValue)
            out.string(vm)
            out.optionalString(reason)
        case .gmemCreate(let vm, let gmem, let size, let flags, let folioSize):
            out.byte(Tag.gmemCreate.rawValue)
            out.string(vm)
            out.string(gmem)
            out.varint(size)
            out.varint(UInt64(flags.count))
            for flag in flags { out.string(flag) }
            out.varint(folioSize)
        case .gmemClose(let gmem):
            out.byte(Tag.gmemClose.rawValue)
            out.string(gmem)
        case .bind(let vm, let gmem, let slot, let gpa, let size, let offset, let hva):
            out.byte(Tag.bind.rawValue)
            out.string(vm)
            out.string(gmem)
            out.varint(slot)
            out.varint(gpa)
            out.varint(size)
            out.varint(offset)
            out.optional(hva)
        case .unbind(let vm, let slot):
            out.byte(Tag.unbind.rawValue)
            out.string(vm)
            out.varint(slot)
        case .populate(let range, let pfn):
            out.byte(Tag.populate.rawValue)
            encode(range, into: &out)
            out.optional(pfn)
        case .punchHole(let range):
            out.byte(Tag.punchHole.rawValue)
            encode(range, into: &out)
        case .map(let range):
            out.byte(Tag.map.rawValue)
            encode(range, into: &out)
        case .zap(let range, let reason):
            out.byte(Tag.zap.rawValue)
            encode(range, into: &out)
            out.optionalString(reason)
        case .convertRequest(let vm, let gpa, let size, let to, let implicit):
            out.byte(Tag.convertRequest.rawValue)
            out.string(vm)
            out.varint(gpa)
            out.varint(size)
            out.byte((to == .private ? 1 : 0) | (implicit ? 2 : 0))
        case .convert(let range, let to):
            out.byte(Tag.convert.rawValue)
            encode(range, into: &out)
            out.byte(to == .private ? 1 : 0)
        case .accept(let range):
            out.byte(Tag.accept.rawValue)
            encode(range, into: &out)
        case .pin(let range, let holder):
            out.byte(Tag.pin.rawValue)
            encode(range, into: &out)
            out.byte(holder.code)
        case .release(let range, let holder):
            out.byte(Tag.release.rawValue)
            encode(range, into: &out)
            out.byte(holder.code)
        case .hostAccess(let range):
            out.byte(Tag.hostAccess.rawValue)
            encode(range, into: &out)
        case .reuse(let pfn, let npages, let owner):
            out.byte(Tag.reuse.rawValue)
            out.varint(pfn)
            out.varint(npages)
            out.optionalString(owner)
        case .mce(let pfn):
            out.byte(Tag.mce.rawValue)
            out.varint(pfn)
        case .context(let tracepoint):
            out.byte(Tag.context.rawValue)
            out.string(tracepoint)
        }
    }

    private static func encode(_ range: MemoryRange, into out: inout ByteWriter) {
        switch range {
        case .file(let gmem, let offset, let size):
            out.byte(0)
            out.string(gmem)
            out.varint(offset)
            out.varint(size)
        case .guest(let vm, let gpa, let size):
            out.byte(1)
            out.string(vm)
            out.varint(gpa)
            out.varint(size)
        }
    }

    private static func decodeOperation(_ input: inout ByteReader) throws(DecodingError) -> Operation {
        do {
            let code = try input.byte()
            guard let tag = Tag(rawValue: code) else { throw DecodingError(description: "event form has unknown op \(code)") }
            switch tag {
            case .vmCreate: return .vmCreate(vm: try input.string(), type: try input.string(), tdxConnect: try input.byte() != 0)
            case .vmDestroy: return .vmDestroy(vm: try input.string())
            case .vmBugged: return .vmBugged(vm: try input.string(), reason: try input.optionalString())
            case .gmemCreate:
                let vm = try input.string()
                let gmem = try input.string()
                let size = try input.varint()
                var flags: [String] = []
                for _ in 0..<(try input.count()) { flags.append(try input.string()) }
                return .gmemCreate(vm: vm, gmem: gmem, size: size, flags: flags, folioSize: try input.varint())
            case .gmemClose: return .gmemClose(gmem: try input.string())
            case .bind:
                return .bind(
                    vm: try input.string(), gmem: try input.string(), slot: try input.varint(), gpa: try input.varint(),
                    size: try input.varint(), offset: try input.varint(), hva: try input.optional())
            case .unbind: return .unbind(vm: try input.string(), slot: try input.varint())
            case .populate: return .populate(try decodeRange(&input), pfn: try input.optional())
            case .punchHole: return .punchHole(try decodeRange(&input))
            case .map: return .map(try decodeRange(&input))
            case .zap: return .zap(try decodeRange(&input), reason: try input.optionalString())
            case .convertRequest:
                let vm = try input.string()
                let gpa = try input.varint()
                let size = try input.varint()
                let bits = try input.byte()
                return .convertRequest(vm: vm, gpa: gpa, size: size, to: bits & 1 != 0 ? .private : .shared, implicit: bits & 2 != 0)
            case .convert: return .convert(try decodeRange(&input), to: try input.byte() != 0 ? .private : .shared)
            case .accept: return .accept(try decodeRange(&input))
            case .pin: return .pin(try decodeRange(&input), holder: try holder(try input.byte()))
            case .release: return .release(try decodeRange(&input), holder: try holder(try input.byte()))
            case .hostAccess: return .hostAccess(try decodeRange(&input))
            case .reuse: return .reuse(pfn: try input.varint(), npages: try input.varint(), owner: try input.optionalString())
            case .mce: return .mce(pfn: try input.varint())
            case .context: return .context(tracepoint: try input.string())
            }
        } catch let error as DecodingError {
            throw error
        } catch {
            throw DecodingError(description: String(describing: error))
        }
    }

    private static func decodeRange(_ input: inout ByteReader) throws(StateCodec.DecodingError) -> MemoryRange {
        switch try input.byte() {
        case 0: return .file(gmem: try input.string(), offset: try input.varint(), size: try input.varint())
        default: return .guest(vm: try input.string(), gpa: try input.varint(), size: try input.varint())
        }
    }

    private static func holder(_ code: UInt8) throws(DecodingError) -> Holder {
        guard Int(code) < Holder.allCases.count else { throw DecodingError(description: "event form has unknown holder \(code)") }
        return Holder.allCases[Int(code)]
    }
}

extension Holder {
    /// The holder's index in `allCases`, its code in an event form.
    var code: UInt8 { UInt8(Holder.allCases.firstIndex(of: self)!) }
}

extension ByteWriter {
    mutating func optionalString(_ text: String?) {
        if let text {
            byte(1)
            string(text)
        } else {
            byte(0)
        }
    }
}

extension ByteReader {
    mutating func optionalString() throws(StateCodec.DecodingError) -> String? {
        try byte() == 1 ? try string() : nil
    }
}
