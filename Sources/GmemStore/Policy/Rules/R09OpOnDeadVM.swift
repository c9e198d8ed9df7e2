/// GM-R09: the log says an operation succeeded on a VM that KVM_BUG_ON or teardown had already
/// killed, where every VM ioctl returns -EIO.
public struct OpOnDeadVM: Rule {
    public var id: String { "GM-R09" }
    public var name: String { "op-on-dead-vm" }
    public var defaultSeverity: Severity { .error }
    public var firesOn: String { "an op with observed result ok on a bugged or destroyed VM, except the ops that still run there under the VM's kernel profile" }
    public var rationale: String { "after KVM_BUG_ON every VM ioctl returns -EIO" }

    public init() {}

    public func check(_ context: RuleContext) -> Detection? {
        // The engine's verdict says already whether the event's VM is dead and its kernel
        // refuses the event (`Verdict.refused`): only then is the VM looked up by name, not on
        // every event the log says succeeded.
        guard context.observedOK, context.verdict.refused, let name = context.verdict.vm, let vm = context.state.vms[name], vm.life.isDead else {
            return nil
        }
        switch context.event.op {
        case .vmCreate: return nil
        case .vmDestroy where vm.life == .bugged: return nil
        default: break
        }
        if context.verdict.kernel.stillRuns(context.event, on: vm.life) { return nil }
        let death = context.memory.vmDeath[name].map { [$0] } ?? []
        return Detection(
            spans: context.allSpans, related: death,
            message: "\(context.event.op.name) on vm '\(name)' answered ok although the VM is \(vm.life.rawValue)"
                + (death.isEmpty ? "" : " since seq \(death[0])") + "; under \(context.verdict.kernel.rawValue) KVM answers -EIO to it")
    }
}
