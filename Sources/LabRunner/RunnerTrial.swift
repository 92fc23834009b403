import Foundation
import LabContainer
import LabCore
import LabModel
import LabVirt
import LabWire

extension Runner {
    /// The timeout of one trial: a VM's boot timeout, ten minutes elsewhere.
    func trialTimeout(_ kind: BackendKind) -> Double {
        kind.isVM ? scenario.vm.bootTimeout : 600
    }

    /// One trial through the one instance path, turned into a record.
    public func runTrial(_ planned: PlannedTrial, backend: any Backend) async -> TrialRecord {
        do {
            let request = InstanceRequest(.agent(scenario.agentArguments), timeout: trialTimeout(planned.backend),
                                          volume: planned.backend.isPeer || planned.backend.isFullOS ? nil : scenario.volumeBytes.map { InstanceRequest.VolumeRequest(sizeBytes: $0) })
            let outcome = try await InstanceRun.run(backend, request)
            return Self.record(planned, outcome: outcome)
        } catch {
            return TrialRecord(index: planned.index, round: planned.round, backend: planned.backend, warmup: planned.warmup,
                               accelerator: nil, timeline: [], samples: [], agentErrors: [], ready: nil,
                               memorySource: nil, error: "\(error)", consoleTail: nil)
        }
    }

    /// A trial's record from an instance's outcome: the samples the lab
    /// measured around the agent (start-up phases, memory, CPU) and the
    /// agent's own results.
    public static func record(_ planned: PlannedTrial, outcome: InstanceOutcome) -> TrialRecord {
        var record = TrialRecord(index: planned.index, round: planned.round, backend: planned.backend, warmup: planned.warmup,
                                 accelerator: outcome.accelerator, timeline: [], samples: [], agentErrors: [], ready: nil,
                                 memorySource: nil, error: nil, consoleTail: nil)
        let timeline = outcome.timeline
        let first = timeline.phases.first?.ns ?? 0
        record.timeline = timeline.phases.map { Timeline.Phase(name: $0.name, ns: $0.ns - first) }
        var samples: [Sample] = []
        func ms(_ ns: UInt64?) -> Double? { ns.map { Double($0) / 1e6 } }
        if let ready = timeline["ready"] {
            samples.append(Sample(workload: "startup", metric: "ready", value: Double(ready - first) / 1e6, unit: "ms"))
        }
        let hasTeardown = planned.backend != .bare
        if let total = ms(timeline.duration(timeline.phases.first?.name ?? "", hasTeardown ? "cleaned" : "exited")) {
            samples.append(Sample(workload: "startup", metric: "total", value: total, unit: "ms"))
        }
        // A system container's second finish line: systemd's READY=1 on the notify socket.
        if let notified = timeline["systemd_ready"], notified >= first {
            samples.append(Sample(workload: "startup", metric: "systemd_ready", value: Double(notified - first) / 1e6, unit: "ms"))
        }
        // A whole OS shuts itself down after the agent's DONE (systemctl poweroff): to its exit.
        if planned.backend.isFullOS, let shutdown = ms(timeline.duration("done", "exited")) {
            samples.append(Sample(workload: "startup", metric: "shutdown", value: shutdown, unit: "ms"))
        }
        if hasTeardown, let teardown = ms(timeline.duration("exited", "cleaned")) {
            samples.append(Sample(workload: "startup", metric: "teardown", value: teardown, unit: "ms"))
        }
        // Memory by the lab's one instrument for every backend (PSS summed over
        // the instance's host processes), its peak, and the host's own
        // MemAvailable drop; then each backend's own figures, named by instrument.
        let memory = outcome.memory
        func mib(_ kib: Int?) -> Double? { kib.map { Double($0) / 1024 } }
        if let pss = mib(memory.pssAtReadyKiB) {
            samples.append(Sample(workload: "resources", metric: "pss", value: pss, unit: "MiB"))
            record.memorySource = "PSS (/proc/PID/smaps_rollup) summed over the instance's \(memory.processesAtReady ?? 0) host process(es) at READY"
        }
        if let peak = mib(memory.pssPeakKiB) { samples.append(Sample(workload: "resources", metric: "pss_peak", value: peak, unit: "MiB")) }
        if let drop = mib(memory.memAvailableDropKiB) {
            samples.append(Sample(workload: "resources", metric: "memavailable_drop", value: drop, unit: "MiB"))
        }
        if let rss = mib(memory.rssPeakKiB) { samples.append(Sample(workload: "resources", metric: "rss_peak", value: rss, unit: "MiB")) }
        for figure in outcome.figures.secondary {
            samples.append(Sample(workload: "resources", metric: figure.name, value: figure.value, unit: figure.unit))
        }
        if let agent = AgentLine.doneFields(outcome.output)["max_rss_kb"].flatMap(Double.init) {
            samples.append(Sample(workload: "resources", metric: "agent_rss", value: agent / 1024, unit: "MiB"))
        }
        if let cpu = outcome.figures.cpuNs {
            samples.append(Sample(workload: "resources", metric: "cpu_time", value: Double(cpu) / 1e6, unit: "ms"))
        }
        samples.append(Sample(workload: "resources", metric: "disk_image", value: Double(outcome.diskImageBytes) / 1_048_576, unit: "MiB"))
        samples.append(Sample(workload: "resources", metric: "disk_instance", value: Double(outcome.diskInstanceBytes) / 1024, unit: "KiB"))
        for line in outcome.lines {
            switch line {
            case .ready(let fields): record.ready = fields
            case .result(let json):
                if let result = try? JSONDecoder().decode(AgentResult.self, from: Data(json.utf8)) {
                    samples.append(Sample(workload: result.workload, metric: result.metric, value: result.value, unit: result.unit,
                                          params: result.params, durationNs: result.durationNs))
                }
            case .error(let json): record.agentErrors.append(json)
            case .boot(let json):
                if let boot = try? JSONDecoder().decode(BootRecord.self, from: Data(json.utf8)) {
                    record.boot = boot
                    // systemd's own split of the boot, beside the host's clock.
                    for (phase, ms) in boot.phasesMs {
                        samples.append(Sample(workload: "boot", metric: phase, value: ms, unit: "ms"))
                    }
                }
            case .output: break  // a command's output (vm run); a trial runs workloads
            case .done(let status):
                if status != 0 { record.error = "the agent exited with \(status): \(record.agentErrors.first ?? "no error line")" }
            }
        }
        // A guest's READY carries its own uptime: kernel + init by the guest's
        // clock. The rest of the host's define -> READY is what happened before
        // that clock started: libvirt's define and QEMU's start, the firmware,
        // loading and decompressing the kernel (no assumption that the two clocks agree).
        if planned.backend.isVM, let uptime = record.ready?["uptime_ns"].flatMap(Double.init),
           let ready = samples.first(where: { $0.metric == "ready" }) {
            samples.append(Sample(workload: "startup", metric: "guest_uptime_at_ready", value: uptime / 1e6, unit: "ms"))
            samples.append(Sample(workload: "startup", metric: "before_guest_clock", value: max(ready.value - uptime / 1e6, 0), unit: "ms"))
        }
        if record.error == nil, outcome.doneStatus == nil, outcome.exit.code != 0 {
            record.error = "\(planned.backend.rawValue) \(outcome.id) \(outcome.exit.text)"
        }
        if record.ready == nil && record.error == nil { record.error = "no READY from the agent" }
        if record.error != nil, planned.backend.isVM || planned.backend.isFullOS { record.consoleTail = outcome.tail() }
        record.samples = samples
        return record
    }

}
