import GmemStore

/// One hostile input through the same path as `gmem-audit ingest`: the line reader, format
/// detection, the JSON Lines / ftrace / QEMU reader, trace resolution, the engine and the
/// batch transaction, into a fresh in-memory store. An input may be refused, never crash the
/// process; the harness traps (a fuzzer finding) when a promise is broken:
///
/// - a refusal is a `StoreError` naming the input (`decode` or `unreadableInput`) and leaves
///   the store empty (the batch is all-or-nothing);
/// - an accepted input leaves a store that `Verifier` passes: the chain links, seqs are
///   gap-free, every stored body decodes to itself and every verdict and snapshot equals a
///   fresh replay.
public enum ReaderHarness {
    /// Runs `bytes` as one input file in `format` (nil: detect it, as `--format auto`). Inputs
    /// of odd length are read with `--quarantine`, so that the reject path is fuzzed as well.
    public static func run(_ bytes: UnsafeRawBufferPointer, format: InputFormat?) {
        let contents = Array(bytes)
        let quarantine = contents.count % 2 == 1
        let store: Store
        do {
            store = try Store(path: ":memory:", access: .readWrite)
        } catch {
            fatalError("harness: an in-memory store could not be created: \(error)")
        }
        let source = IngestSource(reader: LineReader(name: "fuzz-input", contents: contents), format: format, quarantine: quarantine)
        do {
            let summary = try MergeIngest(quarantine: quarantine).ingest([source], into: store)
            let head = try store.headLink().seq
            guard head == Int64(summary.batch.added) else {
                fatalError("harness: \(summary.batch.added) events reported added, the log ends at seq \(head)")
            }
            let report = try store.database.readTransaction { try Verifier(store: store).run() }
            guard report.passed else { fatalError("harness: verify failed after an accepted input: \(report.problems)") }
        } catch let error as StoreError {
            switch error {
            case .decode(let file, _, _) where file == "fuzz-input": break
            case .unreadableInput: break
            default: fatalError("harness: refused with an error that does not name the input: \(error)")
            }
            let head: Int64
            do { head = try store.headLink().seq } catch { fatalError("harness: store unreadable after a refusal: \(error)") }
            guard head == 0 else { fatalError("harness: a refused input left \(head) events in the store") }
        } catch {
            fatalError("harness: failed with \(type(of: error)), not a StoreError: \(error)")
        }
    }

    /// The format a corpus or regression directory stands for: `jsonl`, `ftrace`, `qemu`, or
    /// `auto` (detect).
    public static func format(named name: String) -> InputFormat?? {
        if name == "auto" { return .some(nil) }
        return InputFormat(rawValue: name).map { .some($0) }
    }
}
