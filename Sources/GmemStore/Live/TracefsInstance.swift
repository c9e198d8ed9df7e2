#if canImport(Glibc)
import Glibc
#endif

/// A tracefs instance of `watch`'s own (`instances/gmem-watch-PID`): its own ring buffer, with
/// `trace_clock=mono` (the clock a VMM's JSON Lines use, EVENTS.md §5) and the kvm, kvmmmu and
/// iommu events gmem reads (what scripts/capture-real.sh enables), read from its `trace_pipe`.
/// Other tracing on the machine (the top-level buffer, other instances) is left alone.
/// `remove()` stops it and deletes it; an instance of a `watch` that was killed (its PID is
/// gone) is deleted by the next one (`removeStale`).
public final class TracefsInstance {
    /// The instances' name prefix; the PID of the `watch` that made it follows.
    public static let prefix = "gmem-watch-"
    /// The event systems enabled: those the trace reader knows (docs/TRACES.md).
    public static let eventSystems = ["kvm", "kvmmmu", "iommu"]

    /// The tracefs mount point used.
    public let tracefs: String
    /// The instance's directory.
    public let directory: String
    /// The event systems this kernel has and that were enabled.
    public private(set) var enabled: [String] = []
    private var removed = false

    /// What went wrong setting an instance up.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Creates and starts the instance of this process under the tracefs at `tracefs` (found or
    /// mounted by `mountPoint()` when nil).
    public init(tracefs: String? = nil, bufferKiB: Int = 4096) throws(Failure) {
        let root: String
        if let tracefs { root = tracefs } else { root = try Self.mountPoint() }
        self.tracefs = root
        directory = root + "/instances/" + Self.prefix + String(getpid())
        if mkdir(directory, 0o755) != 0 {
            throw Failure(description: "cannot create the tracefs instance \(directory): \(String(cString: strerror(errno))) (needs root)")
        }
        do throws(Failure) {
            try write("0", to: "tracing_on")
            try write("mono", to: "trace_clock")
            try write(String(bufferKiB), to: "buffer_size_kb")
            for system in Self.eventSystems where access(directory + "/events/" + system + "/enable", F_OK) == 0 {
                try write("1", to: "events/" + system + "/enable")
                enabled.append(system)
            }
            guard !enabled.isEmpty else {
                throw Failure(description: "tracefs has none of the events \(Self.eventSystems.joined(separator: ", ")) (is the kvm module loaded?)")
            }
            try write("1", to: "tracing_on")
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    /// Opens the instance's `trace_pipe` (non-blocking): each line read from it is consumed.
    public func openPipe() throws(Failure) -> Int32 {
        let descriptor = open(directory + "/trace_pipe", O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw Failure(description: "cannot open \(directory)/trace_pipe: \(String(cString: strerror(errno)))")
        }
        return descriptor
    }

    /// Stops tracing into the instance and deletes it (the kernel frees its ring buffer).
    /// Close the descriptor of its `trace_pipe` first: an instance in use cannot be removed.
    public func remove() {
        guard !removed else { return }
        removed = true
        try? write("0", to: "tracing_on")
        _ = rmdir(directory)
    }

    private func write(_ value: String, to file: String) throws(Failure) {
        let path = directory + "/" + file
        let descriptor = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array((value + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw Failure(description: "cannot write '\(value)' to \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The tracefs mount point: /sys/kernel/tracing (mounted there when it is not, as root can),
    /// else /sys/kernel/debug/tracing. A tracefs mounted here stays mounted: another tracer may
    /// have started using it meanwhile.
    public static func mountPoint() throws(Failure) -> String {
        for candidate in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] where access(candidate + "/instances", F_OK) == 0 {
            return candidate
        }
        if access("/sys/kernel/tracing", F_OK) == 0, mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nil) == 0 {
            return "/sys/kernel/tracing"
        }
        throw Failure(description: "tracefs is not mounted and cannot be mounted at /sys/kernel/tracing (needs root and CONFIG_TRACING): \(String(cString: strerror(errno)))")
    }

    /// Deletes the instances of `watch` processes that no longer exist (killed before they could
    /// remove theirs); returns their names. An instance whose PID is alive is left alone.
    @discardableResult
    public static func removeStale(tracefs: String) -> [String] {
        guard let directory = opendir(tracefs + "/instances") else { return [] }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name.hasPrefix(prefix) { names.append(name) }
        }
        closedir(directory)
        var removed: [String] = []
        for name in names {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid > 0 else { continue }
            if kill(pid, 0) == 0 || errno != ESRCH { continue }
            let path = tracefs + "/instances/" + name
            let on = open(path + "/tracing_on", O_WRONLY | O_TRUNC | O_CLOEXEC)
            if on >= 0 {
                _ = Glibc.write(on, "0\n", 2)
                close(on)
            }
            if rmdir(path) == 0 { removed.append(name) }
        }
        return removed
    }
}
