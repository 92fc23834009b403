import Foundation
import LabWire
import LabCore
import LabModel

/// The noisy neighbour (docs/density.md): a victim runs the agent's `cpu`
/// and `memory` workloads alone, beside a neighbour that keeps the host's
/// CPUs and memory bus busy without limits, and beside the same neighbour
/// with limits: one victim run per condition per round, the conditions in a
/// rotating order; each neighbour runs inside the one instance path for its
/// victim run and is ended with it.
public enum NoisyNeighbour {
    public struct Context: Sendable {
        public var victim: any Backend
        public var unlimited: any Backend
        public var limited: any Backend
        /// How the limited neighbour is limited, in words.
        public var limits: String
        public var settings: NeighbourSettings
        public var progress: @Sendable (String) -> Void

        public init(victim: any Backend, unlimited: any Backend, limited: any Backend, limits: String, settings: NeighbourSettings,
                    progress: @escaping @Sendable (String) -> Void) {
            self.victim = victim
            self.unlimited = unlimited
            self.limited = limited
            self.limits = limits
            self.settings = settings
            self.progress = progress
        }
    }

    /// The neighbour's program: two busy loops (integer and memory) in a
    /// container, the agent's `cpu` workload on every vCPU's worth in a VM.
    static func neighbourRequest(_ kind: BackendKind, seconds: Double) -> InstanceRequest {
        var request: InstanceRequest
        if kind.isVM {
            // The guest's agent runs one workload at a time: its one vCPU busy.
            request = InstanceRequest(.agent(["cpu", "--cpu.seconds", String(Int(seconds))]), timeout: seconds + 120)
        } else {
            let agent = "/sbin/isolab-agent run"
            request = InstanceRequest(.command(["/bin/sh", "-c", "\(agent) cpu --cpu.seconds \(Int(seconds)) >/dev/null & "
                + "\(agent) memory --memory.seconds \(Int(seconds)) >/dev/null & echo ISOLAB READY version=\(AgentProtocol.version) role=neighbour; wait"]),
                                      timeout: seconds + 120)
        }
        request.sampleMemory = false
        return request
    }

    public static func run(_ context: Context) async -> NeighbourRun {
        let settings = context.settings
        let kind = context.victim.kind
        let record = Record()

        // One victim run: the agent's cpu and memory workloads (small arrays: a
        // 256 MiB guest holds its initramfs in RAM too); its ERROR lines kept.
        @Sendable func victim(_ condition: String, round: Int) async {
            context.progress("\(kind.rawValue) neighbour: round \(round + 1) of \(settings.repetitions), victim \(condition)")
            var request = InstanceRequest(.agent(["cpu", "memory", "--cpu.seconds", NumberText.short(settings.seconds),
                                                  "--memory.seconds", NumberText.short(settings.seconds), "--memory.mib", "16"]),
                                          timeout: kind.isVM ? 600 : 120)
            request.sampleMemory = false
            do {
                let outcome = try await InstanceRun.run(context.victim, request)
                for line in outcome.lines {
                    switch line {
                    case .result(let json):
                        if let result = try? JSONDecoder().decode(AgentResult.self, from: Data(json.utf8)) { record.add(condition, result) }
                    case .error(let json): record.error("\(condition): the victim's agent: \(json)")
                    default: break
                    }
                }
            } catch {
                record.error("\(condition): \(error)")
            }
        }

        // Rounds, each condition once per round in a rotating order, so that
        // the host's drift falls on all three alike (the conditions one after
        // another would confound a slow hour with a neighbour).
        let conditions: [(String, (any Backend)?)] = [("alone", nil), ("unlimited", context.unlimited), ("limited", context.limited)]
        let hold = settings.seconds * 2 + (kind.isVM ? 900 : 120)
        for round in 0..<settings.repetitions {
            for offset in 0..<conditions.count {
                if CleanupRegistry.shared.interrupted != nil { break }
                let (condition, neighbour) = conditions[(round + offset) % conditions.count]
                guard let neighbour else {
                    await victim(condition, round: round)
                    continue
                }
                do {
                    _ = try await InstanceRun.run(neighbour, neighbourRequest(kind, seconds: hold)) { instance in
                        _ = try await DensityRamp.waitForReady(instance, until: MonotonicClock.now() + 600_000_000_000)
                        // Let it get going before the victim is timed.
                        try await Task.sleep(nanoseconds: 500_000_000)
                        // The control: what the neighbour used while the victim ran.
                        let (cpu0, t0) = (ProcessState.cpuNs(of: instance.hostProcesses()), MonotonicClock.now())
                        await victim(condition, round: round)
                        let (cpu1, t1) = (ProcessState.cpuNs(of: instance.hostProcesses()), MonotonicClock.now())
                        if t1 > t0 { record.neighbourUsed(condition, cpus: Double(cpu1 >= cpu0 ? cpu1 - cpu0 : 0) / Double(t1 - t0)) }
                    }
                } catch {
                    record.error("\(condition) neighbour: \(error)")
                }
            }
        }
        let (values, units, order, errors, neighbourCPUs) = record.lock.withLock {
            (record.values, record.units, record.order, record.errors, record.neighbourCPUs)
        }
        let metrics = order.map { key -> NeighbourRun.Metric in
            let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
            return NeighbourRun.Metric(workload: parts[0], metric: parts.count > 1 ? parts[1] : "", unit: units[key] ?? "",
                                       alone: values["alone"]?[key] ?? [], unlimited: values["unlimited"]?[key] ?? [],
                                       limited: values["limited"]?[key] ?? [])
        }
        let neighbour = kind.isVM ? "a VM running the agent's cpu workload (its one vCPU busy)" : "a container running the agent's cpu and memory workloads at once (two busy processes)"
        var run = NeighbourRun(backend: kind, metrics: metrics, limits: context.limits, neighbour: neighbour, errors: errors, neighbourCPUs: neighbourCPUs)
        if !kind.isVM {
            run.limitedCPUWeight = context.settings.cpuWeight
            run.limitedCPUs = context.settings.cpus
        }
        return run
    }

    /// The victims' values, from the threads that ran them.
    final class Record: @unchecked Sendable {
        let lock = NSLock()
        var values: [String: [String: [Double]]] = [:]  // condition -> "workload.metric" -> values
        var units: [String: String] = [:]
        var order: [String] = []
        var errors: [String] = []
        var neighbourCPUs: [String: [Double]] = [:]  // condition -> the neighbour's CPUs during each victim run

        func neighbourUsed(_ condition: String, cpus: Double) { lock.withLock { neighbourCPUs[condition, default: []].append(cpus) } }

        func add(_ condition: String, _ result: AgentResult) {
            let key = result.workload + "." + result.metric
            lock.withLock {
                if units[key] == nil { order.append(key) }
                units[key] = result.unit
                values[condition, default: [:]][key, default: []].append(result.value)
            }
        }

        func error(_ text: String) { lock.withLock { errors.append(text) } }
    }
}
