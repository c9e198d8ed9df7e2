import ArgumentParser
import GmemStore

/// `--kernel rfc-2025|upstream-2026` (EVENTS.md §4a).
extension KernelProfile: ExpressibleByArgument {}
