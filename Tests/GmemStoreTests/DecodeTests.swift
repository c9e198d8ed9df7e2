import Foundation
import Testing
@testable import GmemStore

/// Bad input gets a clear error naming file, line and what is wrong, and leaves the store as
/// it was.
@Suite struct DecodeTests {
    static let good = #"{"op":"vm_create","vm":"td1"}"#

    /// Ingests `badLine` after a good line and returns the error message; the store must
    /// stay empty.
    func rejection(_ badLine: String) throws -> String {
        let temporary = try TemporaryStore()
        let path = try temporary.file("bad.jsonl", Self.good + "\n# a comment\n\n" + badLine + "\n" + Self.good + "\n")
        var message = ""
        do {
            _ = try JSONLIngest().ingest(path: path, into: temporary.store)
            Issue.record("accepted: \(badLine)")
        } catch let error as StoreError {
            guard case .decode(let file, let line, let text) = error else {
                Issue.record("not a decode error: \(error)")
                return ""
            }
            #expect(file == path)
            #expect(line == 4)
            message = text
            #expect(error.description == "\(path):4: \(text)")
        }
        #expect(try temporary.count("event") == 0)
        #expect(try temporary.count("batch") == 0)
        #expect(try temporary.count("snapshot") == 0)
        return message
    }

    @Test("each kind of bad line is named with its field and what is wrong", arguments: [
        (#"{"op":"vm_create","vm":"td1""#, "not valid JSON at column"),
        (#"["op","map"]"#, "expected a JSON object, found an array"),
        (#"{"op":"teleport","vm":"td1"}"#, "field 'op': unknown operation 'teleport'"),
        (#"{"vm":"td1"}"#, "field 'op': missing"),
        (#"{"op":"pin","gmem":"g","offset":0,"size":4096}"#, "field 'holder': missing"),
        (#"{"op":"map","gmem":"g","offset":100,"size":4096}"#, "field 'offset': 0x64 is not a multiple of 4096"),
        (#"{"op":"map","gmem":"g","offset":0,"size":0}"#, "field 'size': must be greater than zero"),
        (#"{"op":"map","gmem":"g","offset":0,"size":"4096x"}"#, "field 'size': '4096x' is not a whole number"),
        (#"{"op":"map","gmem":"g","offset":0,"size":-4096}"#, "field 'size': must not be negative"),
        (#"{"op":"map","gmem":"g","offset":0,"size":184467440737095516160}"#, "does not fit in 64 bits"),
        (#"{"op":"map","gmem":"g","offset":"0xfffffffffffff000","size":8192}"#, "wraps past 2^64"),
        (#"{"op":"map","gmem":"g","offset":0,"size":4096.5}"#, "is not a whole number"),
        (#"{"op":"reuse","pfn":"0xfffffffffffffffe","npages":3}"#, "field 'npages': 3 frames from pfn 0xfffffffffffffffe run past the last frame"),
        (#"{"op":"reuse","pfn":2,"npages":"0xffffffffffffffff"}"#, "field 'npages': 18446744073709551615 frames from pfn 0x2 run past"),
        (#"{"op":"populate","gmem":"g","offset":0,"size":8192,"pfn":"0xffffffffffffffff"}"#, "field 'pfn': 2 frames from pfn 0xffffffffffffffff run past"),
        (#"{"op":"convert","gmem":"g","offset":0,"size":4096,"to":"secret"}"#, "field 'to': must be 'shared' or 'private'"),
        (#"{"op":"map","vm":7.5,"gpa":0,"size":4096}"#, "field 'vm': expected a string, found a number"),
        (#"{"op":"map","gmem":"g","gmem":"h","offset":0,"size":4096}"#, "field 'gmem': given twice"),
        (#"{"op":"map","size":4096}"#, "a range needs gmem + offset + size, or vm + gpa + size"),
        (#"{"op":"map","gmem":"g","offset":0,"size":4096,"ts":"yesterday"}"#, "field 'ts': 'yesterday' is not an RFC 3339 time"),
        (#"{"op":"vm_create","vm":"td1","tdx_connect":"yes"}"#, "field 'tdx_connect': expected true or false"),
        (#"{"op":"gmem_create","vm":"v","gmem":"g","size":4096,"folio_size":8192}"#, "field 'folio_size': must be 4096, 2097152 or 1073741824"),
        (String(repeating: "[", count: 100) + String(repeating: "]", count: 100), "nesting deeper than 64 levels"),
        ("{\"op\":\"vm_create\",\"vm\":\"td\u{0}1\"}", "control character in a string"),
    ])
    func badLine(line: String, message: String) throws {
        let text = try rejection(line)
        #expect(text.contains(message), "got: \(text)")
    }

    @Test("invalid UTF-8 is a decode error, not a crash")
    func invalidUTF8() throws {
        let temporary = try TemporaryStore()
        let path = temporary.directory + "/utf8.jsonl"
        var bytes = Array(#"{"op":"vm_create","vm":""#.utf8)
        bytes += [0xFF, 0xFE, 0xC3]
        bytes += Array(#""}"#.utf8) + [0x0A]
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        #expect(throws: StoreError.self) { try JSONLIngest().ingest(path: path, into: temporary.store) }
        #expect(try temporary.count("event") == 0)
    }

    @Test("a 10 MB line decodes or fails cleanly")
    func hugeLine() throws {
        let temporary = try TemporaryStore()
        let note = String(repeating: "x", count: 10_000_000)
        let path = try temporary.file("huge.jsonl", #"{"op":"vm_create","vm":"td1","note":""# + note + "\"}\n")
        // Past the 1 MiB line limit (docs/TRACES.md, Inputs): refused with file:line.
        #expect {
            try JSONLIngest().ingest(path: path, into: temporary.store)
        } throws: { error in
            "\(error)" == "\(path):1: line longer than the limit of 1048576 bytes (1 MiB)"
        }
        #expect(try temporary.count("event") == 0)
    }

    @Test("numbers: JSON integers, hex strings and decimal strings; identifiers given as numbers are kept as text")
    func numberForms() throws {
        let a = try event(#"{"op":"map","gmem":7,"offset":"0x2000","size":"8192"}"#)
        #expect(a.op == .map(.file(gmem: "7", offset: 0x2000, size: 8192)))
        let b = try event(#"{"op":"pin","vm":"td","gpa":4294967296,"size":"0X1000","holder":"iommu"}"#)
        #expect(b.op == .pin(.guest(vm: "td", gpa: 1 << 32, size: 4096), holder: .iommu))
        #expect(b.actor == "iommu")
    }

    @Test("byte counts on the command line: decimal, hex, binary suffixes, overflow refused")
    func byteCounts() {
        #expect(parseByteCount("4096") == 4096)
        #expect(parseByteCount("0x1000") == 4096)
        #expect(parseByteCount("2M") == 2 << 20)
        #expect(parseByteCount("1t") == 1 << 40)
        #expect(parseByteCount("0x10G") == 16 << 30)
        #expect(parseByteCount("99999999999T") == nil)
        #expect(parseByteCount("M") == nil)
        #expect(parseByteCount("12Q") == nil)
    }

    @Test("RFC 3339 and integer nanosecond timestamps")
    func timestamps() throws {
        #expect(try event(#"{"op":"vm_create","vm":"a","ts":"2025-07-18T11:12:48.123456789Z"}"#).ts == 1_752_837_168_123_456_789)
        #expect(try event(#"{"op":"vm_create","vm":"a","ts":"2025-07-18T13:12:48+02:00"}"#).ts == 1_752_837_168_000_000_000)
        #expect(try event(#"{"op":"vm_create","vm":"a","ts":140314706000}"#).ts == 140_314_706_000)
        #expect(Timestamp.format(1_752_837_168_123_456_789) == "2025-07-18T11:12:48.123456789Z")
        #expect(Timestamp.format(0) == "1970-01-01T00:00:00Z")
    }

    @Test("unknown fields are kept in the canonical form, which is stable under re-decoding")
    func unknownFieldsKept() throws {
        let original = try event(#"{"note":"n","op":"map","gmem":"g","offset":0,"size":4096,"vendor":{"z":1,"a":[true,null]},"pfn":5}"#)
        let canonical = original.canonicalJSON
        #expect(canonical.contains(#""vendor":{"a":[true,null],"z":1}"#))
        #expect(canonical.contains(#""pfn":5"#))
        let again = try event(canonical)
        #expect(again.canonicalJSON == canonical)
        #expect(again == original || again.canonicalJSON == original.canonicalJSON)
    }

    @Test("--quarantine keeps the good lines and stores the bad ones with their reasons")
    func quarantine() throws {
        let temporary = try TemporaryStore()
        let path = try temporary.file("mixed.jsonl", [
            Self.good,
            #"{"op":"teleport"}"#,
            #"{"op":"gmem_create","vm":"td1","gmem":"g","size":4096}"#,
            #"not json"#,
        ].joined(separator: "\n") + "\n")
        let summary = try JSONLIngest(quarantine: true).ingest(path: path, into: temporary.store)
        #expect(summary.added == 2 && summary.rejected == 2)
        let rows = try temporary.store.database.prepare("SELECT line, text, reason FROM reject ORDER BY line")
        var rejects: [(Int64, String, String)] = []
        while try rows.step() { rejects.append((rows.int(0), rows.string(1), rows.string(2))) }
        #expect(rejects.map(\.0) == [2, 4])
        #expect(rejects[0].1 == #"{"op":"teleport"}"#)
        #expect(rejects[0].2.contains("unknown operation 'teleport'"))
        #expect(rejects[1].2.contains("not valid JSON"))
    }
}
