import ArgumentParser
import GmemStore

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a realistic generated log as JSON Lines to stdout, the same for the same seed."
    )

    @Option(help: "How many events.")
    var events: Int = 100_000
    @Option(help: "The seed number.")
    var seed: UInt64 = 1
    @Option(help: "How many VMs are alive at once.")
    var vms: Int = 4
    @Option(name: .customLong("gmem-size"), help: "Each VM's gmem size in bytes, a multiple of 2 MiB (0x hex, or a K/M/G/T suffix: 1T).")
    var gmemSize: Number = Number(argument: "0x100000000")!
    @Option(help: "The share of steps that misbehave, 0 to 1.")
    var misbehaviour: Double = 0.02
    @Flag(help: "Give every event a producer id.")
    var ids = false

    func validate() throws {
        guard gmemSize.value > 0, gmemSize.value % (2 << 20) == 0 else { throw ValidationError("--gmem-size must be a positive multiple of 2 MiB") }
        guard vms > 0 else { throw ValidationError("--vms must be at least 1") }
        guard (0...1).contains(misbehaviour) else { throw ValidationError("--misbehaviour is a share from 0 to 1") }
    }

    func run() throws {
        var configuration = LogGenerator.Configuration()
        configuration.events = events
        configuration.seed = seed
        configuration.vms = vms
        configuration.gmemSize = gmemSize.value
        configuration.misbehaviour = misbehaviour
        configuration.ids = ids
        var output = ""
        output.reserveCapacity(1 << 20)
        for event in LogGenerator(configuration) {
            output += event.canonicalJSON
            output += "\n"
            if output.utf8.count > 1 << 20 {
                print(output, terminator: "")
                output.removeAll(keepingCapacity: true)
            }
        }
        print(output, terminator: "")
    }
}
