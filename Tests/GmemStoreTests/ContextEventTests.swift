import GmemStore
import Testing

/// The `context` op (docs/MODEL.md): a trace line kept in the log that changes no state, and
/// that survives export → ingest.
@Suite struct ContextEventTests {
    @Test func contextRoundTripsThroughCanonicalJSON() throws {
        let event = Event(
            .context(tracepoint: "kvm_pio"), ts: 731_175_844_000, note: "port 0x10",
            source: EventSource(file: "x.trace", line: 12, text: " t-1 [000] .....   731.175844: kvm_pio: pio_write at 0x10 size 4 count 1 val 0x1 "))
        #expect(event.actor == "kvm")
        #expect(event.canonicalJSON.contains(#""op":"context""#))
        #expect(event.canonicalJSON.hasSuffix(#""tracepoint":"kvm_pio","ts":731175844000}"#))
        #expect(try Event(jsonLine: event.canonicalJSON) == event)
    }

    @Test func contextNeedsItsTracepoint() {
        #expect(throws: EventDecodingError(field: "tracepoint", "missing")) {
            try Event(jsonLine: #"{"op": "context"}"#)
        }
    }

    @Test func contextChangesNoStateEvenOnADeadVM() throws {
        var engine = Engine()
        for line in [
            #"{"op": "vm_create", "vm": "vm1", "type": "default"}"#,
            #"{"op": "gmem_create", "vm": "vm1", "gmem": "g1", "size": 65536}"#,
            #"{"op": "bind", "vm": "vm1", "gmem": "g1", "slot": 1, "gpa": 0, "size": 65536, "offset": 0}"#,
            #"{"op": "map", "vm": "vm1", "gpa": 0, "size": 8192}"#,
            #"{"op": "vm_bugged", "vm": "vm1"}"#,
        ] {
            engine.apply(try Event(jsonLine: line))
        }
        let before = engine.state
        let verdict = engine.apply(Event(.context(tracepoint: "kvm_exit")))
        #expect(verdict.expected == "ok")
        #expect(verdict.pieces.isEmpty && verdict.unresolvedReason == nil && !verdict.diverged)
        #expect(engine.state == before)
    }
}
