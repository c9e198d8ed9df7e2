import PropertyBased
import Testing
@testable import GmemStore

/// The decoders read each op from its row of the vocabulary table (EventVocabulary.swift): a
/// field left out takes the row's default or is refused by name, and a value that breaks the
/// row's check is refused by name, by both decoders alike.
@Suite struct VocabularyTableTests {
    typealias Values = VocabularyRoundTripTests.Values

    /// `line` with the member `key` replaced by `value` (nil: left out).
    static func replacing(_ key: String, with value: JSONValue?, in line: String) throws -> String {
        guard case .object(var members) = try JSONParser.parse(line) else { throw EventDecodingError(field: nil, "not an object") }
        members.removeAll { $0.key == key }
        if let value { members.append(JSONMember(key, value)) }
        return JSONWriter.string(.object(members))
    }

    /// Decodes `line` through the fast decoder (which may decline) and the general one; both
    /// must agree. Returns the general decoder's event or its error.
    static func decode(_ line: String) -> Result<Event, EventDecodingError> {
        var text = line
        let fast = text.withUTF8 { EventLineDecoder.decode($0) }
        let general: Result<Event, EventDecodingError>
        guard let json = try? JSONParser.parse(line) else { return .failure(EventDecodingError(field: nil, "not JSON")) }
        do throws(EventDecodingError) {
            general = .success(try Event(json: json))
        } catch {
            general = .failure(error)
        }
        if let fast { #expect(fast == (try? general.get()), "fast and general decoders differ on \(line)") }
        return general
    }

    /// A value of field `key` of `event` that breaks `check`; nil when this event has none.
    static func breaking(_ check: OperationField.Check, key: String, of event: Event) -> JSONValue? {
        switch check {
        case .oneOf: return .number("8192")
        case .startOfSize: return .number(String(UInt64.max & ~(pageSize - 1)))
        case .firstFrameOfRange:
            guard let range = event.op.range, range.size >= 2 * pageSize else { return nil }
            return .number(String(UInt64.max))
        case .framesFromPFN: return .number("0")
        case .batchNumber, .seqNumber, .seqFromFirst: return .number("0")
        case .saysWhy: return .string("  ")
        }
    }

    @Test("a field left out takes its row's default or is refused by name; a value that breaks its row's check is refused by name", .shrinking(false))
    func defaultsAndChecksFollowTheTable() async {
        await propertyCheck(count: 40, input: Gen.uint64()) { seed in
            let values = Values(state: seed)
            for kind in Operation.Kind.allCases {
                let event = values.event(kind)
                let line = event.canonicalJSON
                for (index, field) in kind.spec.fields.enumerated() {
                    guard let key = field.key?.key else { continue }
                    do {
                        let without = try Self.replacing(key, with: nil, in: line)
                        switch Self.decode(without) {
                        case .success(let decoded):
                            let expected = field.defaultValue ?? (field.optional ? nil : .text("refused"))
                            #expect(decoded.op.values[index] == expected, "seed \(seed): \(kind) without '\(key)'")
                        case .failure(let error):
                            #expect(field.defaultValue == nil && !field.optional && error.field == key, "seed \(seed): \(kind) without '\(key)': \(error)")
                        }
                        if let check = field.check, let value = Self.breaking(check, key: key, of: event) {
                            let broken = try Self.replacing(key, with: value, in: line)
                            switch Self.decode(broken) {
                            case .success: Issue.record("seed \(seed): \(kind) with \(key) \(value) was taken: \(broken)")
                            case .failure(let error): #expect(error.field == key, "seed \(seed): \(broken): \(error)")
                            }
                        }
                    } catch {
                        Issue.record("seed \(seed) \(kind): \(error)")
                    }
                }
            }
        }
    }

    @Test("every check and default of the table fits its field's kind")
    func checksFitTheirKinds() {
        for spec in OperationSpec.all {
            for field in spec.fields {
                guard let check = field.check else { continue }
                switch check {
                case .saysWhy: #expect(field.kind == .text, "\(spec.name).\(field.key?.key ?? "range")")
                default: #expect([.number, .aligned, .size].contains(field.kind), "\(spec.name).\(field.key?.key ?? "range")")
                }
            }
        }
    }
}
