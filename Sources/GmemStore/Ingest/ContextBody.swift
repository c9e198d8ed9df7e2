/// The canonical body of a trace's context event, written from a template: most events of a
/// kernel trace are context lines (`kvm_mmu_pagetable_walk`, `kvm_pio`, `kvm_userspace_exit` …),
/// and their bodies differ only in the tracepoint, the line and the time:
///
///     {"actor":"kvm","host":"local","op":"context","src":{"file":F,"line":N},"tracepoint":T,"ts":TS}
///
/// The reading thread (`PrefetchedSource`) writes each such body as the general writer
/// (`CanonicalEventWriter`) would, without its table of fields; an event of any other shape
/// (a note, an id, a line's text kept, another file) is left to the general writer.
/// `ContextBodyTests` holds the two to the same bytes.
struct ContextBodyTemplate {
    /// The input whose events it writes (their `src.file`).
    let file: String
    /// `{"actor":"kvm","host":"local","op":"context","src":{"file":F,"line":`.
    private let prefix: [UInt8]

    /// A template for the context events read from `file`.
    init(file: String) {
        self.file = file
        var prefix = Array(#"{"actor":"kvm","host":"local","op":"context","src":{"file":"#.utf8)
        CanonicalEventWriter.writeString(file, into: &prefix)
        prefix.append(contentsOf: #","line":"#.utf8)
        self.prefix = prefix
    }

    /// The canonical body of `event`, when it has the template's shape; else nil.
    func body(of event: Event) -> CanonicalBody? {
        guard case .context(let tracepoint) = event.op, let ts = event.ts, let source = event.source, source.text == nil,
            event.note == nil, event.id == nil, event.result == nil, event.errorOffset == nil, event.extra.isEmpty,
            event.kernel == nil, event.via == nil, event.actor == "kvm", event.host == "local", source.file == file
        else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prefix.count + tracepoint.utf8.count + 48)
        bytes.append(contentsOf: prefix)
        bytes.appendDigits(source.line)
        bytes.append(contentsOf: #"},"tracepoint":"#.utf8)
        CanonicalEventWriter.writeString(tracepoint, into: &bytes)
        bytes.append(contentsOf: #","ts":"#.utf8)
        if ts < 0 { bytes.append(UInt8(ascii: "-")) }
        bytes.appendDigits(ts.magnitude)
        bytes.append(UInt8(ascii: "}"))
        return CanonicalBody(canonical: bytes)
    }
}

extension CanonicalBody {
    /// The body `bytes`, already canonical JSON, with its leaf hash.
    init(canonical bytes: [UInt8]) {
        self.bytes = bytes
        leaf = Merkle.leafHash(canonical: bytes)
    }
}
