extension Store {
    /// The engine after event `seq` with every VM judged by `kernel` instead of its own profile:
    /// a replay from the first event (snapshots were made under the recorded profiles).
    /// Reads only; stores nothing (`state --kernel`).
    public func engine(at seq: Int64, judgingAs kernel: KernelProfile) throws -> Engine {
        var engine = try genesisEngine(kernelOverride: kernel)
        if seq >= 1 { try replay(1...seq, into: &engine) }
        return engine
    }

    /// The findings of every rule over the whole log, as if every VM ran `kernel`, with the
    /// triggering seq in `range`. Reads only; stores nothing (`audit --kernel`): the stored
    /// findings stay those of the recorded profiles.
    public func findings(judgingAs kernel: KernelProfile, in range: ClosedRange<Int64>) throws -> [Finding] {
        let head = try headLink().seq
        var auditor = Auditor(engine: try genesisEngine(kernelOverride: kernel))
        var found: [Finding] = []
        guard head >= 1 else { return [] }
        try forEachEffectiveEvent(in: 1...head, readingAhead: true) { seq, event in
            let findings = auditor.audit(event, seq: seq)
            if range.contains(seq) { found += findings }
        }
        return found
    }

    /// `findings` with the kernel profile that judged each one named: the profile recorded in
    /// its VM's `vm_create` (the last one before the finding's event). Findings are stored
    /// without it; the log says it.
    public func namingKernels(_ findings: [Finding]) throws -> [Finding] {
        let query = try database.cached(
            "SELECT seq FROM event WHERE vm = ? AND structural = 1 AND op = 1 AND seq <= ? ORDER BY seq DESC LIMIT 1")
        return try findings.map { finding in
            guard finding.kernel == nil, let vm = finding.vm, let id = try names.existingID(for: vm) else { return finding }
            var named = finding
            try query.bind(1, id)
            try query.bind(2, finding.seq)
            let creation = try query.step() ? query.int(0) : nil
            query.reset()
            if let creation, let event = try storedEvent(creation)?.event {
                named.kernel = event.kernel ?? .standard
            }
            return named
        }
    }
}
