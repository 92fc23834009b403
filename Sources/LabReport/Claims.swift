import Foundation
import LabModel
import LabStats

/// One statement of the notes, set against what the run measured.
public struct Claim: Sendable, Equatable {
    public enum Verdict: String, Sendable {
        case holds = "holds"
        case doesNotHold = "does not hold"
        case notMeasured = "not measured here"
    }
    public var statement: String
    public var measured: String
    public var verdict: Verdict
    public var evidence: String
}

enum Format {
    /// `4.2 ms`, `4.21 s`.
    static func duration(_ ms: Double) -> String {
        ms >= 1000 ? String(format: "%.2f s", ms / 1000) : (ms >= 10 ? String(format: "%.1f ms", ms) : String(format: "%.2f ms", ms))
    }

    static func ratio(_ ratio: RatioSummary?) -> String {
        guard let ratio else { return "n/a" }
        let ci = ratio.interval.map { String(format: " [95 %% CI %.2f–%.2f]", $0.lower, $0.upper) } ?? ""
        return String(format: "%.2f ×", ratio.ratio) + ci
    }
}

public enum Claims {
    public static func evaluate(_ results: RunResults) -> [Claim] {
        var claims: [Claim] = []
        let accelerator = results.environment.accelerator?.accelerator.rawValue.uppercased() ?? "?"
        let container = results.metric(.container, "startup", "ready")?.summary.median
        let vm = results.metric(.vm, "startup", "ready")?.summary.median

        // 1. Start-up time.
        if let container, let vm {
            let ratio = results.ratio(.vm, over: .container, "startup", "ready")
            let containerInSeconds = container >= 1000 && container < 60_000
            let vmInMinutes = vm >= 60_000
            claims.append(Claim(
                statement: "A new container starts in seconds; a new VM takes minutes.",
                measured: "container ready in \(Format.duration(container)), VM in \(Format.duration(vm)) under \(accelerator)",
                verdict: containerInSeconds && vmInMinutes ? .holds : .doesNotHold,
                evidence: "Medians of \(results.repetitions) trials each. The VM takes \(Format.ratio(ratio)) as long as the container: "
                    + "the order holds, the scale does not: a container starts in milliseconds and the VM in seconds"
                    + (accelerator == "TCG" ? ", and under TCG (software emulation); with KVM the VM would be faster still." : ".")))
        } else {
            claims.append(Claim(statement: "A new container starts in seconds; a new VM takes minutes.", measured: "-",
                                verdict: .notMeasured, evidence: "The scenario does not run both containers and VMs."))
        }

        // 2. Kernels.
        let hostKernel = results.environment.host.kernelRelease
        let containerKernel = results.trials.first { $0.backend == .container && $0.ready != nil }?.ready?["kernel"]
        let vmKernel = results.trials.first { $0.backend == .vm && $0.ready != nil }?.ready?["kernel"]
        if let containerKernel, let vmKernel {
            let holds = containerKernel == hostKernel && vmKernel != hostKernel
            claims.append(Claim(
                statement: "Containers use the host's kernel; VMs boot their own.",
                measured: "container: \(containerKernel); VM: \(vmKernel); host: \(hostKernel)",
                verdict: holds ? .holds : .doesNotHold,
                evidence: "uname -r inside each, from the agent's READY line."))
        } else {
            claims.append(Claim(statement: "Containers use the host's kernel; VMs boot their own.", measured: "-",
                                verdict: .notMeasured, evidence: "Needs a container and a VM trial that reached READY."))
        }

        // 3. Footprint.
        let containerMemory = results.metric(.container, "resources", "memory")?.summary.median
        let vmMemory = results.metric(.vm, "resources", "memory")?.summary.median
        let footprint = results.environment.imageFootprint
        let kernelBytes = results.environment.guestKernel?.sizeBytes ?? 0
        if let containerMemory, let vmMemory {
            let diskContainer = Double(footprint.rootfsBytes) / 1_048_576
            let diskVM = Double(footprint.initramfsBytes + kernelBytes) / 1_048_576
            claims.append(Claim(
                statement: "Containers are lighter: smaller on disk and in memory.",
                measured: String(format: "memory %.1f MiB (container, cgroup peak) vs %.1f MiB (VM, QEMU PSS); disk %.1f MiB (rootfs) vs %.1f MiB (kernel + initramfs)",
                                 containerMemory, vmMemory, diskContainer, diskVM),
                verdict: containerMemory < vmMemory && diskContainer < diskVM ? .holds : .doesNotHold,
                evidence: String(format: "The VM uses %.0f × the container's memory. The image is the same files in both; the VM adds a %.1f MiB kernel.",
                                 vmMemory / max(containerMemory, 0.001), Double(kernelBytes) / 1_048_576)))
        } else {
            claims.append(Claim(statement: "Containers are lighter: smaller on disk and in memory.", measured: "-",
                                verdict: .notMeasured, evidence: "Needs container and VM trials."))
        }

        // 4. Direct use of the hardware.
        let workloadRatios = results.summary.ratios.filter { !["startup", "resources"].contains($0.workload) && $0.baseline == .bare }
        if workloadRatios.isEmpty {
            claims.append(Claim(statement: "Applications in containers use the hardware directly: CPU and memory efficiency better than in a VM.",
                                measured: "-", verdict: .notMeasured, evidence: "The scenario runs no cpu or memory workload (see scenarios/overhead.yaml)."))
        } else {
            let compute = workloadRatios.filter { ["cpu", "memory"].contains($0.workload) }
            let byMetric = Dictionary(grouping: compute) { "\($0.workload).\($0.metric)" }
            // The claim compares the container with the VM: for every CPU and
            // memory metric (rates: higher is better), the container keeps
            // more of bare's rate than the VM does.
            let pairs = byMetric.values.compactMap { ratios -> (Double, Double)? in
                guard let c = ratios.first(where: { $0.backend == .container }), let v = ratios.first(where: { $0.backend == .vm }) else { return nil }
                return (c.ratio, v.ratio)
            }
            let containerDeviation = compute.filter { $0.backend == .container }.map { abs($0.ratio - 1) }
            let line = byMetric.keys.sorted().map { key in
                let ratios = byMetric[key]!.sorted { $0.backend < $1.backend }
                return key + " " + ratios.map { "\($0.backend.rawValue) \(String(format: "%.2f", $0.ratio))×" }.joined(separator: ", ")
            }.joined(separator: "; ")
            claims.append(Claim(
                statement: "Applications in containers use the hardware directly: CPU and memory efficiency better than in a VM.",
                measured: line.isEmpty ? "no cpu or memory metric" : line,
                verdict: pairs.isEmpty ? .notMeasured : (pairs.allSatisfy { $0.0 > $0.1 } ? .holds : .doesNotHold),
                evidence: "Ratios of medians to bare (rates: higher is better). "
                    + (containerDeviation.isEmpty ? "" : String(format: "The container stays within %.0f %% of bare (median deviation %.0f %%). ",
                                                               (containerDeviation.max() ?? 0) * 100, Statistics.median(containerDeviation) * 100))
                    + (accelerator == "TCG" ? "Under TCG the VM's CPU is emulated, so this compares emulation, not KVM's hardware virtualisation." : "")))
        }

        // 5. Isolation.
        if let isolation = results.isolation {
            let all = isolation.namespacesDiffer.values.allSatisfy { $0 } && isolation.namespacesDiffer.count == 6
            let holds = all && isolation.interfaces == ["lo"] && !isolation.hostRootReachable && !isolation.rootWritable
            claims.append(Claim(
                statement: "Namespaces (PID, NET, IPC, MNT, UTS) isolate each container.",
                measured: "PID 1: \(isolation.pidOne); hostname \(isolation.hostname); interfaces \(isolation.interfaces.joined(separator: ", ")); "
                    + "namespaces differing from the host's: \(isolation.namespacesDiffer.filter(\.value).keys.sorted().joined(separator: ", "))",
                verdict: holds ? .holds : .doesNotHold,
                evidence: "Read from inside a container: /proc/self/ns links, /proc/net/dev, host paths unreachable (\(!isolation.hostRootReachable)), root read-only (\(!isolation.rootWritable)), CapEff \(isolation.capEff)."))
        } else {
            claims.append(Claim(statement: "Namespaces (PID, NET, IPC, MNT, UTS) isolate each container.", measured: "-",
                                verdict: .notMeasured, evidence: "Add checks: [isolation] to the scenario."))
        }

        // 6. cgroups.
        if let cgroups = results.cgroups {
            let holds = cgroups.oomKilled && cgroups.frozeCounterHeld && cgroups.thawedCounterMoved && cgroups.cpuWeightWritten != nil
                && (cgroups.cpuTimeMs ?? 0) > 0
            claims.append(Claim(
                statement: "cgroups limit, prioritise, account for and freeze containers.",
                measured: "\(cgroups.memoryLimitMiB) MiB limit: \(cgroups.exitDescription); weight \(cgroups.cpuWeight) written as \(cgroups.cpuWeightFile) = \(cgroups.cpuWeightWritten ?? "?"); "
                    + String(format: "CPU time accounted %.0f ms; frozen: counter held %@, thawed: counter moved %@",
                             cgroups.cpuTimeMs ?? 0, cgroups.frozeCounterHeld ? "yes" : "no", cgroups.thawedCounterMoved ? "yes" : "no"),
                verdict: holds ? .holds : .doesNotHold,
                evidence: "cgroup \(cgroups.mode) on this host; measured once per run on containers of the lab's own."))
        } else {
            claims.append(Claim(statement: "cgroups limit, prioritise, account for and freeze containers.", measured: "-",
                                verdict: .notMeasured, evidence: "Add checks: [cgroups] to the scenario."))
        }
        return claims
    }
}
