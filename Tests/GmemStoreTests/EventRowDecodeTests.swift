import Testing
@testable import GmemStore

/// The row decoder builds the ops that act on a range straight from their columns and every
/// other op through its table row: a malformed row of either kind must be refused with the same
/// message as before, naming what it lacks.
@Suite struct EventRowDecodeTests {
    /// Decodes one row of `columns` (the `EventRow.columns` not named are NULL).
    static func decode(_ columns: [String: EventRow.Value], names: [String] = []) throws -> Result<Event, EventRow.Malformed> {
        let scratch = try TemporaryStore()
        let database = scratch.store.database
        let table = scratch.store.names
        var ids: [String: Int64] = [:]
        try database.execute("BEGIN")
        for text in names { ids[text] = try table.id(for: text) }
        try database.execute("COMMIT")
        try database.execute("CREATE TEMP TABLE event_row AS SELECT \(EventRow.columns) FROM event WHERE 0")
        let all = EventRow.columns.split(separator: ", ").map(String.init)
        let placeholders = Array(repeating: "?", count: all.count).joined(separator: ", ")
        let insert = try database.prepare("INSERT INTO event_row VALUES (\(placeholders))")
        for (index, column) in all.enumerated() {
            var value = columns[column] ?? .null
            if case .text(let text) = value, let id = ids[text] { value = .integer(id) }
            try insert.bind(Int32(index + 1), value)
        }
        try insert.run()
        let select = try database.prepare("SELECT \(EventRow.columns) FROM event_row")
        #expect(try select.step())
        do throws(EventRow.Malformed) {
            return .success(try EventRow.event(from: select, at: 0, names: table))
        } catch {
            return .failure(error)
        }
    }

    static func message(_ result: Result<Event, EventRow.Malformed>) -> String? {
        if case .failure(let error) = result { return error.message }
        return nil
    }

    static func code(_ kind: Operation.Kind) -> EventRow.Value { .integer(Int64(kind.rawValue)) }

    static let file: [String: EventRow.Value] = ["host": .text("local"), "gmem": .text("g0"), "offset": .integer(0x1000), "size": .integer(0x2000)]

    @Test("a well-formed row of every range op decodes to its op, with its optional fields")
    func rangeOpsDecode() throws {
        let names = ["local", "g0", "v0", "teardown"]
        let range = MemoryRange.file(gmem: "g0", offset: 0x1000, size: 0x2000)
        func row(_ kind: Operation.Kind, _ more: [String: EventRow.Value] = [:]) -> [String: EventRow.Value] {
            Self.file.merging(["op": Self.code(kind)].merging(more) { $1 }) { $1 }
        }
        let cases: [([String: EventRow.Value], Operation)] = [
            (row(.populate), .populate(range, pfn: nil)),
            (row(.populate, ["pfn": .integer(-1)]), .populate(range, pfn: UInt64.max)),
            (row(.punchHole), .punchHole(range)),
            (row(.map), .map(range)),
            (row(.accept), .accept(range)),
            (row(.hostAccess), .hostAccess(range)),
            (row(.zap), .zap(range, reason: nil)),
            (row(.zap, ["label": .text("teardown")]), .zap(range, reason: "teardown")),
            (row(.convert, ["mode": .integer(0)]), .convert(range, to: .shared)),
            (row(.convert, ["mode": .integer(1)]), .convert(range, to: .private)),
            (row(.pin, ["holder": .integer(2)]), .pin(range, holder: .vfio)),
            (row(.release, ["holder": .integer(0)]), .release(range, holder: .td)),
            (
                ["op": Self.code(.map), "host": .text("local"), "vm": .text("v0"), "gpa": .integer(0x4000), "size": .integer(0x1000)],
                .map(.guest(vm: "v0", gpa: 0x4000, size: 0x1000))
            ),
        ]
        for (columns, operation) in cases {
            let result = try Self.decode(columns, names: names)
            guard case .success(let event) = result else {
                Issue.record("\(operation): \(Self.message(result) ?? "")")
                continue
            }
            #expect(event.op == operation)
            #expect(event.host == "local" && event.actor == operation.defaultActor)
        }
    }

    @Test("a malformed row of a range op is refused with what it lacks")
    func malformedRangeRowsAreRefused() throws {
        let names = ["local", "g0"]
        let cases: [([String: EventRow.Value], String)] = [
            (Self.file.merging(["op": Self.code(.convert)]) { $1 }, "has no to"),
            (Self.file.merging(["op": Self.code(.pin), "holder": .integer(9)]) { $1 }, "has no valid holder"),
            (Self.file.merging(["op": Self.code(.release)]) { $1 }, "has no valid holder"),
            (Self.file.merging(["op": Self.code(.zap), "label": .integer(999)]) { $1 }, "names an unknown name id 999"),
            (Self.file.merging(["op": Self.code(.map), "gmem": .integer(998)]) { $1 }, "names an unknown name id 998"),
            (Self.file.merging(["op": Self.code(.map), "offset": .null]) { $1 }, "has no offset"),
            (Self.file.merging(["op": Self.code(.accept), "size": .null]) { $1 }, "has no size"),
            (["op": Self.code(.punchHole), "host": .text("local"), "gpa": .integer(0), "size": .integer(0x1000)], "has no vm or gmem"),
            (["op": Self.code(.hostAccess), "host": .text("local"), "vm": .text("local"), "size": .integer(0x1000)], "has no gpa"),
            (Self.file.merging(["op": Self.code(.populate), "host": .null]) { $1 }, "has no host"),
            (Self.file.merging(["op": Self.code(.map), "src_file": .text("local")]) { $1 }, "has no src_line"),
            (Self.file.merging(["op": .integer(0)]) { $1 }, "has an unknown op code 0"),
        ]
        for (columns, expected) in cases {
            #expect(Self.message(try Self.decode(columns, names: names)) == expected, "\(columns)")
        }
    }
}
