import Testing
@testable import GmemStore

/// The fast decoding path must give exactly what the general decoder gives, on every line it
/// accepts, and must leave every line the general decoder rejects to the general decoder.
@Suite struct EventLineDecoderTests {
    /// The general decoder's answer: the event, or nil when it rejects the line.
    private func general(_ line: String) -> Event? {
        guard let value = try? JSONParser.parse(line) else { return nil }
        return try? Event(json: value)
    }

    private func fast(_ line: String) -> Event? {
        var line = line
        return line.withUTF8 { EventLineDecoder.decode($0) }
    }

    /// Checks the contract on one line; returns whether the fast path took it.
    @discardableResult
    private func check(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let expected = general(line)
        guard let decoded = fast(line) else { return false }
        #expect(expected != nil, "the fast path accepted a line the general decoder rejects: \(line)", sourceLocation: sourceLocation)
        #expect(decoded == expected, "the fast path decoded differently: \(line)", sourceLocation: sourceLocation)
        return true
    }

    private func generatedLines(_ count: Int, seed: UInt64, gmemSize: UInt64 = 4 << 30) -> [String] {
        var configuration = LogGenerator.Configuration()
        configuration.events = count
        configuration.seed = seed
        configuration.ids = true
        configuration.misbehaviour = 0.2
        configuration.gmemSize = gmemSize
        return LogGenerator(configuration).map { event in
            var event = event
            if event.ts.map({ $0 % 3 == 0 }) ?? false {
                event.source = EventSource(file: "log.jsonl", line: UInt64(event.ts! % 1000), text: "kvm_exit: reason ÉPT")
            }
            return event.canonicalJSON
        }
    }

    @Test func canonicalBodiesAlwaysTakeTheFastPath() {
        for line in generatedLines(3000, seed: 7) + generatedLines(500, seed: 8, gmemSize: 1 << 40) {
            #expect(check(line), "a canonical body fell back to the general decoder: \(line)")
        }
    }

    @Test func scenarioLinesDecodeAlike() throws {
        var taken = 0
        for scenario in SeedScenarios.all {
            for line in scenario.text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
                if check(String(line)) { taken += 1 }
            }
        }
        #expect(taken > 100, "the scenario lines should mostly take the fast path, took \(taken)")
    }

    @Test func linesInAnyShapeDecodeAlike() {
        let lines = [
            #"{"op":"convert","gmem":"g1","offset":"0x1000","size":"4096","to":"private","vm":"td1"}"#,  // vm kept as extra
            #"{"op":"map","vm":"td1","gpa":4096,"size":4096,"colour":"blue"}"#,  // unknown field
            #"{"op":"map","vm":"td1","gpa":4096,"size":4096,"note":null}"#,
            #"{ "op" : "pin" , "gmem" : 7 , "offset" : 0 , "size" : 8192 , "holder" : "iommu" }"#,
            #"{"op":"pin","gmem":"g","offset":0,"size":8192,"holder":"nobody"}"#,
            #"{"op":"populate","gmem":"g","offset":0,"size":4096,"pfn":"0x1F"}"#,
            #"{"op":"populate","gmem":"g","offset":0,"size":4096,"pfn":-1}"#,
            #"{"op":"populate","gmem":"g","offset":0,"size":4096,"pfn":1.5}"#,
            #"{"op":"populate","gmem":"g","offset":0,"size":4096,"pfn":18446744073709551616}"#,
            #"{"op":"map","gmem":"g","offset":1,"size":4096}"#,
            #"{"op":"map","gmem":"g","offset":0,"size":0}"#,
            #"{"op":"map","gmem":"g","offset":"0xfffffffffffff000","size":8192}"#,
            #"{"op":"map","gmem":"","offset":0,"size":4096}"#,
            #"{"op":"map","gmem":"g","offset":0,"size":4096,"ts":"2025-07-18T11:12:48.123456789Z"}"#,
            #"{"op":"map","gmem":"g","offset":0,"size":4096,"ts":"-12"}"#,
            #"{"op":"map","gmem":"g","offset":0,"size":4096,"ts":-12}"#,
            #"{"op":"map","gmem":"g","offset":0,"size":4096,"ts":"yesterday"}"#,
            #"{"op":"map","gmem":"g","offset":0,"size":4096,"host":"h\u00e9"}"#,
            #"{"op":"map","gmem":"g","offset":0,"size":4096,"host":"hé"}"#,
            #"{"op":"map","gmem":"g","offset":0,"size":4096,"op":"zap"}"#,
            #"{"op":"map","gmem":"g","offset":0,"size":4096} x"#,
            #"{"op":"map","gmem":"g","offset":0,"size":4096,}"#,
            #"{"op":"gmem_create","vm":"v","gmem":"g","size":8192,"flags":["mmap", "init_shared"],"folio_size":2097152}"#,
            #"{"op":"gmem_create","vm":"v","gmem":"g","size":8192,"flags":[],"folio_size":12}"#,
            #"{"op":"gmem_create","vm":"v","gmem":"g","size":8192,"flags":[1]}"#,
            #"{"op":"vm_create","vm":"v","tdx_connect":"yes"}"#,
            #"{"op":"vm_create","vm":1.5}"#,
            #"{"op":"reuse","pfn":5,"npages":0}"#,
            #"{"op":"reuse","pfn":5,"npages":3,"owner":"x"}"#,
            #"{"op":"mce","pfn":"12"}"#,
            #"{"op":"bind","vm":"v","gmem":"g","slot":1,"gpa":"0x100000000","size":8192,"offset":0,"hva":"0x7f0000000000"}"#,
            #"{"op":"unbind","vm":"v","slot":"0x2"}"#,
            #"{"op":"convert_request","vm":"v","gpa":4096,"size":4096,"to":"shared","implicit":true}"#,
            #"{"op":"zap","vm":"v","gpa":4096,"size":4096,"reason":"host","src":{"line":3,"file":"t.txt","text":"a"}}"#,
            #"{"op":"zap","vm":"v","gpa":4096,"size":4096,"src":{"line":3}}"#,
            #"{"op":"zap","vm":"v","gpa":4096,"size":4096,"src":{"line":3,"file":"f","extra":1}}"#,
            #"{"op":"zap","vm":"v","gpa":4096,"size":4096,"src":{"line":-3,"file":"f"}}"#,
            #"{"op":"future_op","vm":"v"}"#,
            #"{}"#, #"[]"#, #""#, #"{"op":"map""#,
        ]
        for line in lines { check(line) }
    }

    /// Random edits of valid lines: whatever the edit, the two paths agree.
    @Test func editedLinesDecodeAlike() {
        var random = SeededGenerator(seed: 42)
        let pieces = ["\"", "\\", ",", ":", "{", "}", "[", "]", " ", "0", "-", "x", "é", "null", "\"0x10\"", "1e3", "\"vm\":\"a\"", "\"op\":\"map\""]
        let lines = generatedLines(400, seed: 9)
        for line in lines {
            for _ in 0..<25 {
                var bytes = Array(line.utf8)
                let position = Int(random.next() % UInt64(bytes.count + 1))
                switch random.next() % 3 {
                case 0 where position < bytes.count:
                    bytes.remove(at: position)
                case 1:
                    bytes.insert(contentsOf: pieces[Int(random.next() % UInt64(pieces.count))].utf8, at: position)
                default:
                    if position < bytes.count { bytes[position] = UInt8(truncatingIfNeeded: random.next() % 128) }
                }
                check(String(decoding: bytes, as: UTF8.self))
            }
        }
    }

    @Test func eventJSONLineUsesEitherPathWithTheSameResult() throws {
        for line in generatedLines(300, seed: 11) {
            #expect(try Event(jsonLine: line) == general(line))
        }
        #expect(throws: EventDecodingError.self) { try Event(jsonLine: #"{"op":"map","gmem":"g","offset":1,"size":4096}"#) }
    }
}
