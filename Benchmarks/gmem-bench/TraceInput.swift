#if canImport(Glibc)
import Glibc
#endif

/// The kernel-trace input of figure 2: `scripts/make-big-trace.sh`'s `big.trace` (tracefs
/// text) and `big.jsonl` (the VMM log that binds its gfns), made fresh or reused.
struct TraceInput {
    var jsonl: String
    var trace: String

    /// Runs `scripts/make-big-trace.sh MEBIBYTES directory` (found beside the current
    /// directory or the executable when `script` is nil); its output goes to standard error.
    static func make(mebibytes: Int, in directory: String, script: String?) throws -> TraceInput {
        guard let script = script ?? findScript() else {
            throw BenchError("scripts/make-big-trace.sh not found above the current directory or the executable; give --trace-script or --trace-dir")
        }
        let arguments = ["/bin/bash", script, "\(mebibytes)", directory]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO)
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/bash", &actions, nil, &argv, environ)
        guard rc == 0 else { throw BenchError("cannot start \(script): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        guard waitpid(pid, &status, 0) == pid else { throw BenchError("waitpid: \(String(cString: strerror(errno)))") }
        guard status == 0 else { throw BenchError("\(script) \(mebibytes) \(directory) failed (wait status \(status))") }
        return try existing(in: directory)
    }

    /// The trace a previous `make-big-trace.sh` left in `directory`.
    static func existing(in directory: String) throws -> TraceInput {
        let input = TraceInput(jsonl: directory + "/big.jsonl", trace: directory + "/big.trace")
        for path in [input.jsonl, input.trace] where access(path, R_OK) != 0 {
            throw BenchError("\(path): cannot read: \(String(cString: strerror(errno))) (make it with scripts/make-big-trace.sh)")
        }
        return input
    }

    /// `scripts/make-big-trace.sh` in the current directory or the executable's, or above.
    private static func findScript() -> String? {
        var starts: [String] = []
        if let cwd = getcwd(nil, 0) {
            starts.append(String(cString: cwd))
            free(cwd)
        }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if length > 0 {
            starts.append(String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        for start in starts {
            var directory = start
            while !directory.isEmpty {
                let candidate = directory + "/scripts/make-big-trace.sh"
                if access(candidate, R_OK) == 0 { return candidate }
                guard let slash = directory.lastIndex(of: "/") else { break }
                directory = String(directory[..<slash])
            }
        }
        return nil
    }
}
