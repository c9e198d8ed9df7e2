import ArgumentParser
import GmemStore
#if canImport(Glibc)
import Glibc
#endif

/// The engine alone on the generator's workload: events generated into memory first, then
/// judged and applied with no SQLite, the best of several passes. The quick figure to watch
/// while working on the engine (`run` measures it too, among everything else).
struct EngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Time the engine alone (evaluate + commit) and the auditor alone on generated events in memory."
    )

    @OptionGroup var log: LogOptions
    @Option(help: "How many passes over the events; the fastest counts.")
    var passes: Int = 3
    @Flag(help: "Also time the auditor (every rule, findings kept in memory) on the same events.")
    var audit = false
    @Flag(help: "Print the results as one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard passes > 0 else { throw ValidationError("--passes must be at least 1") }
    }

    func run() throws {
        progress("generating \(log.events) events")
        // `var` only so that each event can be lent to the engine in place (`judge(_:_:)`).
        var events = Array(LogGenerator(log.configuration))
        var results = Results(command: "engine")
        results.context = [
            ("log", .string("\(events.count) generated events in memory, \(log.vms) VMs, gmem size \(hex(log.gmemSize.value)), seed \(log.seed)")),
            ("passes", .number("\(passes)")),
        ]
        var best = Double.infinity
        var bestCPU = Double.infinity
        var state = GmemState()
        for pass in 1...passes {
            let cpuStart = threadCPUSeconds()
            let (engine, elapsed) = seconds {
                var engine = Engine()
                for index in events.indices { judge(&engine, &events[index]) }
                return engine
            }
            let cpu = threadCPUSeconds() - cpuStart
            state = engine.state
            progress("engine pass \(pass): \(rateText(Double(events.count) / elapsed)) (\(rateText(Double(events.count) / cpu)) per CPU second)")
            best = min(best, elapsed)
            bestCPU = min(bestCPU, cpu)
        }
        let runs = state.files.reduce(0) { $0 + $1.pages.runCount }
        results.rows.append(Row.rate(
            id: "engine", kind: .info, name: "engine alone: evaluate + commit, events in memory, no SQLite", items: events.count, seconds: best,
            note: "best of \(passes); \(runs) runs at the end"))
        results.rows.append(Row.rate(
            id: "engine_cpu", kind: .info, name: "engine alone, per second of this thread's CPU time (independent of the machine's load)", items: events.count,
            seconds: bestCPU, note: "best of \(passes)"))
        // How much of the fragmentation the frames make: the runs the pages would need if
        // frames were kept in a map of their own.
        var withoutFrames = 0
        for file in state.files {
            var previous: RangeMap<PageState>.Run?
            for run in file.pages.runs {
                var value = run.value
                value.frameDelta = nil
                value.populated = false
                if let last = previous, last.upper == run.lower, last.value == value {
                    previous = RangeMap<PageState>.Run(last.lower, run.upper, value)
                } else {
                    withoutFrames += 1
                    previous = RangeMap<PageState>.Run(run.lower, run.upper, value)
                }
            }
        }
        results.context.append(("runs_without_frames", .string("\(withoutFrames) runs at the end if frames and populated were kept apart (\(runs) with them)")))
        if audit {
            var bestAudit = Double.infinity
            var bestAuditCPU = Double.infinity
            var findings = 0
            for pass in 1...passes {
                let cpuStart = threadCPUSeconds()
                let (count, elapsed) = seconds {
                    var auditor = Auditor()
                    var found = 0
                    for (index, event) in events.enumerated() {
                        found += auditor.audit(event, seq: Int64(index + 1)).count
                    }
                    return found
                }
                let cpu = threadCPUSeconds() - cpuStart
                findings = count
                progress("auditor pass \(pass): \(rateText(Double(events.count) / elapsed)) (\(rateText(Double(events.count) / cpu)) per CPU second)")
                bestAudit = min(bestAudit, elapsed)
                bestAuditCPU = min(bestAuditCPU, cpu)
            }
            results.rows.append(Row.rate(
                id: "auditor", kind: .info, name: "auditor alone: every rule, findings in memory, no SQLite", items: events.count, seconds: bestAudit,
                note: "best of \(passes); \(findings) findings"))
            results.rows.append(Row.rate(
                id: "auditor_cpu", kind: .info, name: "auditor alone, per second of this thread's CPU time", items: events.count,
                seconds: bestAuditCPU, note: "best of \(passes)"))
            // The auditor's own work (rules, memory fold, findings) without the engine's.
            results.rows.append(Row.rate(
                id: "auditor_own_cpu", kind: .info, name: "the auditor's own cost: per CPU second of the auditor minus the engine's",
                items: events.count, seconds: max(bestAuditCPU - bestCPU, 1e-9), note: "best of \(passes) each"))
        }
        try results.printed(json: json)
    }
}

/// Judges and applies one event of the harness's array (`Engine.apply`: `evaluate`, then
/// `commit`), the event lent to the engine where it lies, as a replay lends the engine the event
/// its decoder built. Taking the element `inout` (nobody changes it) is what lets the compiler
/// pass it without a copy: `for event in events` copied each event out of the array and destroyed
/// the copy after it (its strings retained and released, and a memcpy: ~485 instructions an
/// event, 13% of what was measured, none of it the engine's), and `events[index]` or a buffer
/// pointer's element was copied once per call, because nothing proved that the engine leaves the
/// element alone (docs/PERFORMANCE.md, "Round 8: the engine alone").
func judge(_ engine: inout Engine, _ event: inout Event) {
    engine.apply(event)
}

/// CPU seconds this thread has used (CLOCK_THREAD_CPUTIME_ID): a rate over them does not drop
/// when other processes share the cores.
func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
