import Testing
@testable import GmemStore

/// The context events' bodies written from a template (`ContextBodyTemplate`) are the bytes
/// the general writer writes, and an event of another shape is left to it.
@Suite struct ContextBodyTests {
    @Test func templateWritesTheGeneralWritersBytes() {
        let files = ["big.trace", "/tmp/a b/kvm.trace", "quote\"and\\back", "tab\tand\u{1}control", "ünïcode-☃.trace", ""]
        let tracepoints = Array(KernelTracepoints.context) + ["tp\"odd", "ü"]
        var written = 0
        for file in files {
            let template = ContextBodyTemplate(file: file)
            for tracepoint in tracepoints {
                for (line, ts) in [(UInt64(1), Int64(0)), (12, 731_001_012_000), (UInt64.max, Int64.max), (7, -5), (99, Int64.min)] {
                    let event = Event(.context(tracepoint: tracepoint), ts: ts, source: EventSource(file: file, line: line))
                    guard let body = template.body(of: event) else {
                        Issue.record("not written from the template: \(event)")
                        continue
                    }
                    let general = CanonicalBody(of: event)
                    #expect(body.bytes == general.bytes, "\(String(decoding: body.bytes, as: UTF8.self))")
                    #expect(body.leaf == general.leaf)
                    written += 1
                }
            }
        }
        #expect(written == files.count * tracepoints.count * 5)
    }

    @Test func otherShapesAreLeftToTheGeneralWriter() {
        let template = ContextBodyTemplate(file: "k.trace")
        let source = EventSource(file: "k.trace", line: 3)
        var events = [
            Event(.context(tracepoint: "kvm_pio"), ts: 1, note: "a note", source: source),
            Event(.context(tracepoint: "kvm_pio"), ts: nil, source: source),
            Event(.context(tracepoint: "kvm_pio"), ts: 1, source: nil),
            Event(.context(tracepoint: "kvm_pio"), ts: 1, source: EventSource(file: "k.trace", line: 3, text: "the line")),
            Event(.context(tracepoint: "kvm_pio"), ts: 1, source: EventSource(file: "other.trace", line: 3)),
            Event(.context(tracepoint: "kvm_pio"), ts: 1, id: "p-1", source: source),
            Event(.context(tracepoint: "kvm_pio"), ts: 1, host: "h2", source: source),
            Event(.context(tracepoint: "kvm_pio"), ts: 1, actor: "vmm", source: source),
            Event(.context(tracepoint: "kvm_pio"), ts: 1, result: "ok", source: source),
            Event(.context(tracepoint: "kvm_pio"), ts: 1, errorOffset: 4096, source: source),
            Event(.context(tracepoint: "kvm_pio"), ts: 1, source: source, extra: [JSONMember("x", .bool(true))]),
            Event(.gap(source: "ftrace cpu 0", lost: 3), ts: 1, source: source),
        ]
        events.append(Event(.map(.guest(vm: "vm1", gpa: 0x1000, size: 0x1000)), ts: 1, source: source))
        for event in events {
            #expect(template.body(of: event) == nil, "\(event)")
        }
        #expect(template.body(of: Event(.context(tracepoint: "kvm_pio"), ts: 1, source: source)) != nil)
    }
}
