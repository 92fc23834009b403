import Foundation
import LabWire
import LabContainer
import LabCore
import LabDoctor
import LabImage
import LabModel
import LabStats
import LabVirt
import Logging

/// Runs a scenario fairly on every backend: trials planned in rounds, the
/// backends in a seeded shuffled order in each round so that a noisy
/// machine's drift falls on all of them alike; warm-up rounds first,
/// recorded but not counted; a failed trial recorded and the run goes on.
public struct Runner {
    public struct Options: Sendable {
        public var repetitions: Int?
        public var backends: [BackendKind]?
        public var seed: UInt64?
        public var libvirtURI = "qemu:///system"
        public var paths: LabPaths = .fromEnvironment()
        /// Lower the scenario's density ramp for a quick look.
        public var maxInstances: Int?
        public var budgetSeconds: Double?
        public init() {}
    }

    public var scenario: Scenario
    public var scenarioFile: String
    public var scenarioText: String
    public var options: Options
    var logger: Logger

    public init(scenario: Scenario, file: String, text: String, options: Options, logger: Logger = Logger(label: "isolab.run")) {
        self.scenario = scenario
        self.scenarioFile = file
        self.scenarioText = text
        self.options = options
        self.logger = logger
    }

    /// One planned trial.
    public struct PlannedTrial: Sendable, Equatable {
        public var index: Int
        public var round: Int
        public var backend: BackendKind
        public var warmup: Bool

        public init(index: Int, round: Int, backend: BackendKind, warmup: Bool) {
            self.index = index
            self.round = round
            self.backend = backend
            self.warmup = warmup
        }
    }

    /// Rounds of every backend once, each round in a seeded shuffled order.
    public static func plan(backends: [BackendKind], repetitions: Int, warmup: Int, seed: UInt64) -> [PlannedTrial] {
        var generator = SeededGenerator(seed: seed)
        var trials: [PlannedTrial] = []
        for round in 0..<(warmup + repetitions) {
            var order = backends
            // Fisher-Yates with the seeded generator: the same seed, the same order.
            if order.count > 1 {
                for i in stride(from: order.count - 1, to: 0, by: -1) {
                    order.swapAt(i, Int(generator.next() % UInt64(i + 1)))
                }
            }
            for backend in order {
                trials.append(PlannedTrial(index: trials.count, round: round, backend: backend, warmup: round < warmup))
            }
        }
        return trials
    }

    /// Builds or reuses the image, runs the checks and the trials, and
    /// returns the results (marked incomplete if interrupted).
    public func run(progress: @escaping @Sendable (String, Bool) -> Void) async throws -> RunResults {
        var backends = options.backends ?? scenario.backends
        let repetitions = options.repetitions ?? scenario.repetitions
        let seed = options.seed ?? scenario.seed
        let paths = options.paths
        let started = ISO8601DateFormatter().string(from: Date())

        // Everything that can fail on bad input fails here, before any trial.
        let store = ImageStore(paths: paths)
        let builder = ImageBuilder(store: store, agentPath: try ImageBuilder.defaultAgentPath())
        let image: ImageStore.Record
        switch scenario.image {
        case .inline(let definition):
            let built = try builder.build(definition)
            for warning in built.warnings { progress("warning: \(warning)", false) }
            image = built.record
        case .named(let name):
            if let builtin = ImageDefinition.builtin(name) {
                image = try builder.build(builtin).record
            } else {
                do {
                    image = try store.resolve(name)
                } catch let error as LabError where error.code == .notFound {
                    throw LabError(.invalidInput, "\(scenarioFile): \(error.message)")
                }
            }
        }
        if image.manifest.oci != nil {
            throw LabError(.invalidInput, "\(scenarioFile): image \(image.manifest.name) is an imported OCI image; in this version it runs with isolab container run --image \(image.manifest.name), not yet in a scenario")
        }
        guard image.manifest.agentProtocolVersion == AgentProtocol.version else {
            throw LabError(.invalidInput, "image \(image.manifest.name) has no agent of protocol \(AgentProtocol.version); it must include the agent (agent: true)")
        }
        let layout = try CgroupLayout.detectHost()
        // Equal budgets: every backend on the same (last) host CPUs.
        var budget: [Int]?
        if let cpus = scenario.cpus {
            let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            guard cpus <= online else {
                throw LabError(.invalidInput, "\(scenarioFile): cpus: \(cpus), but this host has \(online) CPU(s)")
            }
            budget = Array((online - cpus)..<online)
        }
        var kernel: GuestKernel?
        var decision: AcceleratorDecision?
        var kvmVerdict: AcceleratorVerdict?
        var trialBackends: [BackendKind: any Backend] = [:]
        var skipped: [String: String] = [:]
        // The guest's kernel and accelerator, decided once for the VM and the qemu peer.
        var vmDecided: (GuestKernel, AcceleratorDecision, LibvirtConnection)?
        func vmParts() async throws -> (GuestKernel, AcceleratorDecision, LibvirtConnection) {
            if let vmDecided { return vmDecided }
            let guest = try GuestKernel.find(paths: paths).get()
            var doctorOptions = Doctor.Options()
            doctorOptions.libvirtURI = options.libvirtURI
            doctorOptions.paths = paths
            progress("deciding the VM accelerator (probing KVM once if this host has no verdict yet)", true)
            let (choice, verdict) = try Doctor(options: doctorOptions, logger: logger).acceleratorDecision(scenario.vm.accel, kernel: guest)
            let connection = try await LibvirtConnection.open(uri: options.libvirtURI)
            kernel = guest
            decision = choice
            kvmVerdict = verdict
            vmDecided = (guest, choice, connection)
            return (guest, choice, connection)
        }
        // The whole-OS image, built (or found) once for the system container and the os-vm.
        var osImageRecord: ImageStore.Record?
        func osImage() throws -> ImageStore.Record {
            if let osImageRecord { return osImageRecord }
            let record: ImageStore.Record
            if let builtin = ImageDefinition.builtin(scenario.osImage), builtin.base == .debian {
                progress("finding or building the \(scenario.osImage) image (about a minute the first time: mmdebstrap; a few seconds for a new agent)", true)
                record = try builder.build(builtin).record
            } else {
                do {
                    record = try store.resolve(scenario.osImage)
                } catch let error as LabError where error.code == .notFound {
                    throw LabError(.invalidInput, "\(scenarioFile): os_image: \(error.message)")
                }
            }
            guard record.manifest.os != nil else {
                throw LabError(.invalidInput, "\(scenarioFile): os_image: \(scenario.osImage) is not a whole-OS image (base: debian)")
            }
            osImageRecord = record
            return record
        }
        for backend in backends {
            switch backend {
            case .systemContainer:
                let record = try osImage()
                var template = ContainerSpec(
                    rootfs: record.rootfs, command: [],
                    limits: CgroupLimits(memoryBytes: scenario.limits.memoryBytes, cpus: scenario.limits.cpus,
                                         cpuWeight: scenario.limits.cpuWeight, pids: scenario.limits.pids),
                    capabilities: 0)
                template.cpuAffinity = budget
                var system = ContainerBackend(template: template, layout: layout, paths: paths)
                system.system = true
                trialBackends[.systemContainer] = system
            case .osVM:
                let record = try osImage()
                let (_, choice, connection) = try await vmParts()
                guard let os = record.manifest.os, let kernelPath = record.kernel, let disk = record.disk else { continue }
                var settings = scenario.vm
                if let budget { settings.vcpus = budget.count }
                var vm = VMBackend(connection: connection, kernel: GuestKernel(path: kernelPath, version: os.kernelRelease, sizeBytes: os.kernelBytes),
                                   initramfs: record.initramfs, settings: settings, accelerator: choice.accelerator, paths: paths)
                vm.cpuset = budget
                vm.osDisk = disk
                trialBackends[.osVM] = vm
            case .bare:
                var bare = BareBackend(agent: image.rootfs + "/sbin/isolab-agent")
                bare.cpuAffinity = budget
                bare.paths = paths
                trialBackends[.bare] = bare
            case .container:
                var template = ContainerSpec(
                    rootfs: image.rootfs, command: [],
                    limits: CgroupLimits(memoryBytes: scenario.limits.memoryBytes, cpus: scenario.limits.cpus,
                                         cpuWeight: scenario.limits.cpuWeight, pids: scenario.limits.pids),
                    capabilities: try Capabilities.set(adding: [], dropping: []).mask)
                template.cpuAffinity = budget
                template.seccomp = scenario.seccomp
                trialBackends[.container] = ContainerBackend(template: template, layout: layout, paths: paths)
            case .vm:
                let (guest, choice, connection) = try await vmParts()
                var settings = scenario.vm
                if let budget { settings.vcpus = budget.count }
                var vm = VMBackend(connection: connection, kernel: guest, initramfs: image.initramfs,
                                   settings: settings, accelerator: choice.accelerator, paths: paths)
                vm.cpuset = budget
                trialBackends[.vm] = vm
            case .runc, .crun, .podman, .nspawn, .unshare, .qemu:
                // A peer: found and tried once; skipped with its reason if it cannot run here.
                var peerGuest: PeerBackend.Guest?
                if backend == .qemu {
                    let (guest, choice, _) = try await vmParts()
                    peerGuest = PeerBackend.Guest(kernel: guest, initramfs: image.initramfs, settings: scenario.vm, accelerator: choice.accelerator)
                }
                let limits = CgroupLimits(memoryBytes: scenario.limits.memoryBytes, cpus: scenario.limits.cpus,
                                          cpuWeight: scenario.limits.cpuWeight, pids: scenario.limits.pids)
                switch PeerBackend.find(backend, rootfs: image.rootfs, limits: limits, paths: paths, guest: peerGuest) {
                case .failure(let reason):
                    skipped[backend.rawValue] = reason.message
                case .success(var peer):
                    peer.seccomp = scenario.seccomp
                    progress("peer \(backend.rawValue): one trial run to see that it works here", true)
                    if let reason = await peer.probe() {
                        skipped[backend.rawValue] = reason.message
                    } else {
                        trialBackends[backend] = peer
                    }
                }
                if let reason = skipped[backend.rawValue] { progress("skipping \(backend.rawValue): \(reason)", false) }
            }
        }
        backends = backends.filter { skipped[$0.rawValue] == nil }
        guard !backends.isEmpty else { throw LabError(.failed, "no backend of the scenario can run here: \(skipped.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; "))") }

        var environment = RunEnvironment(
            labVersion: LabVersion.current, gitCommit: Self.gitCommit(), startedAt: started, finishedAt: nil,
            host: HostInfo.current(), hostFacts: Doctor.hostFacts(vm: backends.contains(where: \.isVM), kvm: kvmVerdict),
            imageName: image.manifest.name, imageDigest: image.manifest.digest,
            imageFootprint: image.manifest.footprint, guestKernel: kernel, accelerator: decision, scenarioFile: scenarioFile,
            scenarioDigest: "sha256:" + SHA256.hash(Array(scenarioText.utf8)).map { String(format: "%02x", $0) }.joined(),
            scenarioText: scenarioText, seed: seed, cpuBudget: budget,
            volume: scenario.volumeBytes.map { "a volume of \(ByteSize.format($0)) at /data on the host's disk (\(FileSystem.fileSystemType(paths.run) ?? "?")): "
                + "a host directory for the process, the same bound into the container, an ext4 disk image as the guest's virtio-blk disk with cache=none (O_DIRECT: no host page cache)" })

        environment.skippedPeers = skipped.isEmpty ? nil : skipped
        var checkErrors: [String] = []
        var isolation: IsolationEvidence?
        var cgroups: CgroupEvidence?
        let checks = CheckContext(rootfs: image.rootfs, layout: layout, paths: paths)
        var escape: EscapeEvidence?
        if scenario.checks.contains(.isolation) {
            progress("check: each namespace from inside a container, against a bare control; the escape suite", false)
            do { isolation = try await IsolationCheck.run(checks) } catch {
                checkErrors.append("isolation: \(error)")
            }
            do { escape = try await EscapeCheck.run(checks) } catch {
                checkErrors.append("escape: \(error)")
            }
        }
        if scenario.checks.contains(.cgroups) {
            progress("check: cgroups limit, prioritise, account for and freeze containers (about 15 s)", false)
            cgroups = await CgroupCheck.run(checks)
            checkErrors += cgroups?.errors.map { "cgroups: \($0)" } ?? []
        }

        let plan = Self.plan(backends: backends, repetitions: repetitions, warmup: scenario.warmup, seed: seed)
        var trials: [TrialRecord] = []
        var complete = true
        let start = MonotonicClock.now()
        for planned in plan {
            if CleanupRegistry.shared.interrupted != nil { complete = false; break }
            let elapsed = Double(MonotonicClock.now() - start) / 1e9
            let eta = planned.index == 0 ? "" : String(format: ", ETA %.0f s", elapsed / Double(planned.index) * Double(plan.count - planned.index))
            progress("trial \(planned.index + 1) of \(plan.count): \(planned.backend.rawValue)\(planned.warmup ? " (warm-up)" : "")\(eta)", true)
            let record = await runTrial(planned, backend: trialBackends[planned.backend]!)
            if CleanupRegistry.shared.interrupted != nil {
                complete = false
                break
            }
            if let error = record.error { progress("trial \(planned.index + 1) (\(planned.backend.rawValue)) failed: \(error)", false) }
            trials.append(record)
        }
        // Many instances at once, and neighbours: after the trials, on the same backends.
        var densityRuns: [DensityRun] = []
        if var density = scenario.density, complete {
            if let cap = options.maxInstances { density.maxInstances = min(density.maxInstances, cap) }
            if let budget = options.budgetSeconds { density.budgetSeconds = min(density.budgetSeconds, budget) }
            for backend in backends where [.container, .vm, .systemContainer, .osVM].contains(backend) {
                if CleanupRegistry.shared.interrupted != nil { break }
                progress("density: \(backend.rawValue), up to \(density.maxInstances) instances at once (budget \(Int(density.budgetSeconds)) s)", false)
                // The translation buffer is TCG's: recorded only for guests that ran under it.
                let tcg = trialBackends[backend]?.guestAccelerator == .tcg
                let run = await DensityRamp.run(DensityRamp.Context(backend: trialBackends[backend]!, settings: density, tbCacheMiB: tcg ? scenario.vm.tbCacheMiB : nil,
                                                                    progress: { progress("density: " + $0, true) }))
                progress("density: \(backend.rawValue) stopped: \(run.stoppedBecause)", false)
                densityRuns.append(run)
            }
            if densityRuns.contains(where: { !$0.complete }) { complete = false }
        }
        var neighbourRuns: [NeighbourRun] = []
        if let neighbour = scenario.neighbour, complete {
            for backend in backends where backend == .container || backend == .vm {
                if CleanupRegistry.shared.interrupted != nil { complete = false; break }
                progress("neighbour: \(backend.rawValue), the victim alone, beside a neighbour without and with limits", false)
                guard let context = neighbourContext(backend, trialBackends[backend]!, neighbour, progress: { progress($0, true) }) else { continue }
                neighbourRuns.append(await NoisyNeighbour.run(context))
            }
            if CleanupRegistry.shared.interrupted != nil { complete = false }
        }
        environment.finishedAt = ISO8601DateFormatter().string(from: Date())
        var results = RunResults(
            schemaVersion: RunResults.currentSchemaVersion, complete: complete, scenarioName: scenario.name,
            scenarioDescription: scenario.description, backends: backends, repetitions: repetitions, warmup: scenario.warmup,
            environment: environment, trials: trials, isolation: isolation, cgroups: cgroups, checkErrors: checkErrors,
            summary: RunResults.summarize(trials, backends: backends))
        results.summaryIsFromTrials = true
        results.escape = escape
        results.density = densityRuns.isEmpty ? nil : densityRuns
        results.neighbours = neighbourRuns.isEmpty ? nil : neighbourRuns
        return results
    }

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

    static func gitCommit() -> String {
        guard let git = HostCommand.which("git"),
              let output = try? HostCommand.run(git, ["rev-parse", "--short=12", "HEAD"], timeout: 5), output.status == 0 else {
            return "unknown"
        }
        return output.stdout.trimmingWhitespace()
    }
}
