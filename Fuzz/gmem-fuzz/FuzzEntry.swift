import CLibFuzzer
import GmemFuzzing
import GmemStore
#if canImport(Glibc)
import Glibc
#endif

/// Writes `text` to standard error.
func complain(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
}

/// The reader fuzzer (scripts/fuzz.sh).
///
/// Built with `GMEM_LIBFUZZER=fast` (libFuzzer's coverage) or `GMEM_LIBFUZZER=1` (that and
/// AddressSanitizer, see Package.swift), it hands its
/// arguments to libFuzzer, which runs each generated input through the target
/// `$GMEM_FUZZ_TARGET` names — `fast` (`ReaderFastHarness`: the readers in memory, the
/// default) or `store` (`ReaderHarness`: ingest into a store, then verify) — in the format
/// `$GMEM_FUZZ_FORMAT` names (jsonl, ftrace, qemu, auto). Built plainly, it replays files
/// through both targets: `gmem-fuzz FORMAT FILE…`, to reproduce a finding without the
/// sanitizers.
@main
enum FuzzEntry {
    static func main() {
        #if GMEM_LIBFUZZER
        let name = getenv("GMEM_FUZZ_FORMAT").map { String(cString: $0) } ?? "auto"
        guard let format = ReaderHarness.format(named: name) else {
            complain("gmem-fuzz: GMEM_FUZZ_FORMAT must be jsonl, ftrace, qemu or auto, not '\(name)'\n")
            exit(64)
        }
        fuzzFormat = format
        let target = getenv("GMEM_FUZZ_TARGET").map { String(cString: $0) } ?? "fast"
        guard target == "fast" || target == "store" else {
            complain("gmem-fuzz: GMEM_FUZZ_TARGET must be fast or store, not '\(target)'\n")
            exit(64)
        }
        fuzzStore = target == "store"
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
        #else
        replay(Array(CommandLine.arguments.dropFirst()))
        #endif
    }

    /// Runs each file through the harness; a broken promise traps with the harness's message.
    static func replay(_ arguments: [String]) {
        guard let name = arguments.first, let format = ReaderHarness.format(named: name), arguments.count > 1 else {
            complain("usage: gmem-fuzz jsonl|ftrace|qemu|auto FILE…  (replays inputs through both reader targets)\n")
            exit(64)
        }
        for path in arguments.dropFirst() {
            guard let file = fopen(path, "rb") else {
                complain("gmem-fuzz: cannot read '\(path)'\n")
                exit(66)
            }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = fread(&chunk, 1, chunk.count, file)
                if count <= 0 { break }
                bytes += chunk[0..<count]
            }
            fclose(file)
            bytes.withUnsafeBytes {
                ReaderFastHarness.run($0, format: format)
                ReaderHarness.run($0, format: format)
            }
            print("\(path): ok")
        }
    }
}

/// The format the fuzzing run was started with, read once before libFuzzer starts.
nonisolated(unsafe) var fuzzFormat: InputFormat?? = nil
/// True for the end-to-end target (`GMEM_FUZZ_TARGET=store`).
nonisolated(unsafe) var fuzzStore = false

#if GMEM_LIBFUZZER
/// libFuzzer's per-input callback by its well-known name (its runtime refers to it even when
/// the program drives it through `LLVMFuzzerRunDriver`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    if fuzzStore {
        ReaderHarness.run(input, format: fuzzFormat ?? nil)
    } else {
        ReaderFastHarness.run(input, format: fuzzFormat ?? nil)
    }
    return 0
}
#endif
