import GmemFuzzing
import GmemStore
#if canImport(Glibc)
import Glibc
#endif

/// The reader fuzzer (scripts/fuzz.sh). Built with `-sanitize=fuzzer,address -DGMEM_LIBFUZZER`,
/// libFuzzer drives `LLVMFuzzerTestOneInput` and `$GMEM_FUZZ_FORMAT` (jsonl, ftrace, qemu,
/// auto) names the reader. Built plainly, it replays files: `gmem-fuzz FORMAT FILE…` runs each
/// through the same harness, to reproduce a finding without the sanitizers.
/// Writes `text` to standard error.
func complain(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
}

#if GMEM_LIBFUZZER
nonisolated(unsafe) private var fuzzFormat: InputFormat?? = nil

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let name = getenv("GMEM_FUZZ_FORMAT").map { String(cString: $0) } ?? "auto"
    guard let format = ReaderHarness.format(named: name) else {
        complain("gmem-fuzz: GMEM_FUZZ_FORMAT must be jsonl, ftrace, qemu or auto, not '\(name)'\n")
        exit(64)
    }
    fuzzFormat = format
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    ReaderHarness.run(UnsafeRawBufferPointer(start: data, count: size), format: fuzzFormat ?? nil)
    return 0
}
#else
@main
enum ReplayInputs {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let format = ReaderHarness.format(named: name), arguments.count > 1 else {
            complain("usage: gmem-fuzz jsonl|ftrace|qemu|auto FILE…  (replays inputs through the reader harness)\n")
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
            bytes.withUnsafeBytes { ReaderHarness.run($0, format: format) }
            print("\(path): ok")
        }
    }
}
#endif
