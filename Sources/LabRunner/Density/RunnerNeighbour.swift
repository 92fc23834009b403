import Foundation
import LabContainer
import LabCore
import LabModel
import LabVirt
import LabWire

extension Runner {
    /// The victim is the trials' backend; the neighbour the same kind on the
    /// same CPUs (the scenario's `cpus` budget), once without limits and once
    /// with them (a container: quota, weight and memory; a VM: its vCPUs
    /// pinned to other host CPUs).
    func neighbourContext(_ kind: BackendKind, _ victim: any Backend, _ settings: NeighbourSettings,
                          progress: @escaping @Sendable (String) -> Void) -> NoisyNeighbour.Context? {
        // The two downcasts left in the runner: a neighbour is the victim's
        // own configuration, changed in a kind's own terms (a container's
        // cgroup limits, a guest's CPU pinning). A backend factory that makes
        // each kind from one resolved configuration will own this.
        if let container = victim as? ContainerBackend {
            var unlimited = container, limited = container
            unlimited.template.limits = CgroupLimits()
            limited.template.limits = CgroupLimits(memoryBytes: settings.memoryBytes, cpus: settings.cpus, cpuWeight: settings.cpuWeight)
            let limits = "cpus \(NumberText.short(settings.cpus)) (quota), cpu_weight \(settings.cpuWeight), memory \(ByteSize.format(settings.memoryBytes))"
            return NoisyNeighbour.Context(victim: victim, unlimited: unlimited, limited: limited, limits: limits, settings: settings, progress: progress)
        }
        if let vm = victim as? VMBackend {
            // Unlimited: on the victim's CPUs (the scenario's budget) as well; limited: pinned away from them.
            let unlimited = vm
            var limited = vm
            let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            let others = (0..<online).filter { !(vm.cpuset ?? []).contains($0) }
            limited.cpuset = Array((others.isEmpty ? [0] : others).prefix(max(1, Int(settings.cpus.rounded(.up)))))
            let limits = "its vCPUs and QEMU's threads pinned to host CPU(s) \(limited.cpuset!.map(String.init).joined(separator: ",")), away from the victim's"
            return NoisyNeighbour.Context(victim: victim, unlimited: unlimited, limited: limited, limits: limits, settings: settings, progress: progress)
        }
        return nil
    }

}
