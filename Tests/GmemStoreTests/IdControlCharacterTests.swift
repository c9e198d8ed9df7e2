import Foundation
import Testing
@testable import GmemStore

/// Ids never hold a control character (U+0000–U+001F, U+007F): a NUL cut the indexes' copy
/// of an id, a newline or escape forged output lines. Both decoders refuse every one of them
/// in every id field, naming the field.
@Suite struct IdControlCharacterTests {
    /// Each id field, in a line of an op that takes it; `X` is where the id goes.
    static let lines: [(field: String, line: String)] = [
        ("vm", #"{"op":"vm_create","vm":X}"#),
        ("vm", #"{"op":"convert_request","vm":X,"gpa":0,"size":4096,"to":"private"}"#),
        ("gmem", #"{"op":"gmem_create","vm":"v","gmem":X,"size":4096}"#),
        ("gmem", #"{"op":"populate","gmem":X,"offset":0,"size":4096}"#),
        ("host", #"{"op":"vm_create","vm":"v","host":X}"#),
        ("id", #"{"op":"vm_create","vm":"v","id":X}"#),
        ("owner", #"{"op":"reuse","pfn":1,"npages":1,"owner":X}"#),
        ("tracepoint", #"{"op":"context","tracepoint":X}"#),
        ("holder", #"{"op":"pin","vm":"v","gpa":0,"size":4096,"holder":X}"#),
    ]

    static let controls: [UInt32] = Array(0..<0x20) + [0x7F]

    static func decodingError(_ line: String) -> EventDecodingError? {
        do {
            _ = try Event(jsonLine: line)
            return nil
        } catch {
            return error
        }
    }

    @Test func theLinesAreValidWithAPlainId() throws {
        for item in Self.lines {
            let id = item.field == "holder" ? #""td""# : #""a-1""#
            #expect(Self.decodingError(item.line.replacingOccurrences(of: "X", with: id)) == nil, "\(item.line)")
        }
    }

    /// Every control character, written as a JSON escape (the general decoder's path), in
    /// every id field, anywhere in the id.
    @Test func everyEscapedControlCharacterIsRefusedInEveryIdField() throws {
        for item in Self.lines {
            for code in Self.controls {
                let escape = String(format: "\\u%04X", code)
                for id in ["\"\(escape)\"", "\"a\(escape)\"", "\"td\(escape)x\""] {
                    let error = Self.decodingError(item.line.replacingOccurrences(of: "X", with: id))
                    #expect(error?.field == item.field, "\(item.field) \(escape): \(String(describing: error))")
                    #expect(error?.message == String(format: "must not contain a control character (found U+%04X)", code))
                }
            }
        }
    }

    /// DEL is valid unescaped in a JSON string: the fast path must not take it either.
    @Test func aRawDELIsRefusedByTheFastPathToo() throws {
        for item in Self.lines {
            let line = item.line.replacingOccurrences(of: "X", with: "\"a\u{7F}b\"")
            #expect(line.utf8.withContiguousStorageIfAvailable { EventLineDecoder.decode($0) } ?? nil == nil)
            #expect(Self.decodingError(line)?.field == item.field, "\(item.field)")
        }
    }

    /// Raw control bytes below 0x20 are not JSON at all: refused too.
    @Test func rawControlBytesAreRefused() throws {
        for item in Self.lines {
            for code in Self.controls where code < 0x20 {
                let line = item.line.replacingOccurrences(of: "X", with: "\"a\(Character(Unicode.Scalar(code)!))\"")
                #expect(Self.decodingError(line) != nil, "\(item.field) \(code)")
            }
        }
    }

    /// Through ingest: the batch is refused with file:line and the field; nothing stored.
    @Test func ingestRefusesTheLineNamingTheField() throws {
        let temporary = try TemporaryStore()
        let path = try temporary.file("nul.jsonl", #"{"op":"vm_create","vm":"v1"}"# + "\n" + #"{"op":"gmem_create","vm":"v1","gmem":"g\u0000x","size":4096}"# + "\n")
        #expect {
            _ = try MergeIngest().ingest([(path, nil)], into: temporary.store)
        } throws: { error in
            "\(error)" == "\(path):2: field 'gmem': must not contain a control character (found U+0000)"
        }
        #expect(try temporary.count("event") == 0)
    }
}
