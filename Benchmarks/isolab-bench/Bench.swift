import ArgumentParser
import Foundation
import LabAgentCore
import LabContainer
import LabCore
import LabImage
import LabRunner
import LabStats
import LabVirt

/// The lab's own benchmarks: each reports medians and spread and compares
/// with a baseline measured in the same run, alternating the two so that a
/// noisy machine's drift falls on both alike.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isolab-bench",
        abstract: "Benchmarks of the lab's own costs (run the release build: swift build -c release).",
        subcommands: [AgentStart.self, AgentStability.self, ImageBuild.self, ContainerStart.self, VMStart.self, Bookkeeping.self]
    )
}

struct AgentOptions: ParsableArguments {
    @Option(help: "The isolab-agent to measure (default: the one built beside this benchmark).")
    var agent: String?

    func agentPath() throws -> String {
        if let agent { return agent }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/isolab-agent"
        guard FileSystem.exists(beside) else { throw ValidationError("no isolab-agent beside the benchmark; pass --agent") }
        return beside
    }
}

func milliseconds(_ ns: [Double]) -> [Double] { ns.map { $0 / 1e6 } }

func describe(_ label: String, _ values: [Double], unit: String) -> String {
    guard let s = Summary(values) else { return "\(label): no samples" }
    let outliers = Statistics.outliers(values).count
    return String(format: "%@  median %.3f %@  (MAD %.3f, min %.3f, p95 %.3f, max %.3f, n %d, %d outliers)",
                  label, s.median, unit, s.mad, s.min, s.p95, s.max, s.n, outliers)
}

/// `isolab-agent run noop`, from posix_spawn to the READY line, against a
/// static `busybox true` from posix_spawn to its exit.
struct AgentStart: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Bare agent start: spawn to READY, against busybox true.")

    @OptionGroup var options: AgentOptions
    @Option(help: "Measured runs of each.") var runs = 300
    @Option(help: "Unmeasured runs of each first.") var warmup = 20
    @Option(help: "The baseline command.") var baseline = "/bin/busybox"

    func validate() throws {
        guard runs >= 2, warmup >= 0 else { throw ValidationError("--runs must be at least 2 and --warmup not negative") }
    }

    func run() throws {
        let agent = try options.agentPath()
        var ready: [Double] = [], exited: [Double] = [], base: [Double] = []
        for index in 0..<(warmup + runs) {
            let a = try BareLauncher.run(agent, ["run", "noop"])
            let b = try BareLauncher.run(baseline, ["true"])
            guard a.exitedNormally, a.exitStatus == 0, b.exitedNormally, b.exitStatus == 0 else {
                throw ValidationError("a run failed: agent status \(a.waitStatus), baseline status \(b.waitStatus)")
            }
            guard index >= warmup else { continue }
            ready.append(Double(a.duration("spawn_start", "ready") ?? 0))
            exited.append(Double(a.duration("spawn_start", "exited") ?? 0))
            base.append(Double(b.duration("spawn_start", "exited") ?? 0))
        }
        print(describe("agent spawn → READY ", milliseconds(ready), unit: "ms"))
        print(describe("agent spawn → exit  ", milliseconds(exited), unit: "ms"))
        print(describe("busybox true → exit ", milliseconds(base), unit: "ms"))
        if let ratio = Bootstrap.ratioOfMedians(ready, base) {
            print(String(format: "READY / busybox true: %.2f × (95 %% CI %.2f–%.2f)",
                         Statistics.median(ready) / Statistics.median(base), ratio.lower, ratio.upper))
        }
    }
}

/// Rounds of N runs of `cpu` and `memory`: how much the median of N moves
/// from round to round.
struct AgentStability: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run-to-run stability of the cpu and memory workloads.")

    @OptionGroup var options: AgentOptions
    @Option(help: "Rounds.") var rounds = 3
    @Option(help: "Runs per round (the median of these is one round's figure).") var runs = 5

    func run() throws {
        let agent = try options.agentPath()
        var medians: [String: [Double]] = [:]
        var units: [String: String] = [:]
        for _ in 0..<rounds {
            var values: [String: [Double]] = [:]
            for _ in 0..<runs {
                let outcome = try BareLauncher.run(agent, ["run", "cpu", "memory"], timeout: 300)
                for case .result(let json) in outcome.lines {
                    let result = try JSONDecoder().decode(AgentResult.self, from: Data(json.utf8))
                    values["\(result.workload).\(result.metric)", default: []].append(result.value)
                    units["\(result.workload).\(result.metric)"] = result.unit
                }
            }
            for (metric, sample) in values { medians[metric, default: []].append(Statistics.median(sample)) }
        }
        for metric in medians.keys.sorted() {
            let perRound = medians[metric]!
            let mean = perRound.reduce(0, +) / Double(perRound.count)
            let spread = (perRound.max()! - perRound.min()!) / mean * 100
            print(String(format: "%-16@ round medians %@ %@: spread %.1f %%", metric,
                         perRound.map { String(format: "%.1f", $0) }.joined(separator: ", "), units[metric] ?? "", spread))
        }
    }
}

/// The built-in image: a cold build into an empty store, then a cached
/// rebuild, alternating.
struct ImageBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image-build", abstract: "Cold and cached builds of the built-in busybox image.")

    @OptionGroup var options: AgentOptions
    @Option(help: "Measured builds of each kind.") var runs = 20
    @Option(help: "Unmeasured builds of each kind first.") var warmup = 2

    func run() throws {
        let agent = try options.agentPath()
        var cold: [Double] = [], cached: [Double] = []
        for index in 0..<(warmup + runs) {
            let home = "/tmp/isolab-bench-images-\(getpid())"
            try? FileSystem.removeTree(home)
            defer { try? FileSystem.removeTree(home) }
            let builder = ImageBuilder(store: ImageStore(paths: LabPaths(stateDirectory: home)), agentPath: agent)
            var start = MonotonicClock.now()
            guard try !builder.build(.builtinBusybox).cached else { throw ValidationError("a cold build was cached") }
            let coldNs = Double(MonotonicClock.now() - start)
            start = MonotonicClock.now()
            guard try builder.build(.builtinBusybox).cached else { throw ValidationError("a rebuild was not cached") }
            let cachedNs = Double(MonotonicClock.now() - start)
            if index >= warmup {
                cold.append(coldNs)
                cached.append(cachedNs)
            }
        }
        print(describe("cold build  ", milliseconds(cold), unit: "ms"))
        print(describe("cached build", milliseconds(cached), unit: "ms"))
    }
}

/// The lab's container, from the call to READY with all namespaces and a
/// memory limit, against util-linux's unshare with the same namespaces
/// running the same agent from the same rootfs (no cgroup, no pivot_root,
/// no capability drop), alternating.
struct ContainerStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container-start", abstract: "Container start to READY and teardown, against unshare.")

    @OptionGroup var options: AgentOptions
    @Option(help: "Measured runs of each.") var runs = 100
    @Option(help: "Unmeasured runs of each first.") var warmup = 10

    func run() throws {
        let agent = try options.agentPath()
        let image = try ImageBuilder(store: ImageStore(paths: .fromEnvironment()), agentPath: agent).build(.builtinBusybox).record
        let layout = try CgroupLayout.detectHost()
        let capabilities = try Capabilities.set(adding: [], dropping: []).mask
        guard let unshare = HostCommand.which("unshare") else { throw ValidationError("unshare not found") }
        var ready: [Double] = [], teardown: [Double] = [], baseline: [Double] = []
        var phases: [String: [Double]] = [:]
        for index in 0..<(warmup + runs) {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw LabError.syscall("pipe") }
            var spec = ContainerSpec(rootfs: image.rootfs, command: ["/sbin/isolab-agent", "run", "noop"],
                                     limits: CgroupLimits(memoryBytes: 256 << 20), capabilities: capabilities)
            spec.stdout = fds[1]
            let container = try Container.create(spec, layout: layout)
            close(fds[1])
            var collector = OutputCollector()
            collector.drain(fds[0], deadline: MonotonicClock.now() + 30_000_000_000) { container.mark("ready", at: $0) }
            close(fds[0])
            container.wait()
            try container.destroy()
            let other = try BareLauncher.run(unshare, ["--pid", "--fork", "--mount-proc", "--mount", "--uts", "--ipc", "--net",
                                                       image.rootfs + "/sbin/isolab-agent", "run", "noop"])
            guard index >= warmup else { continue }
            let timeline = container.timeline
            ready.append(Double(timeline.duration("spawn_start", "ready") ?? 0))
            teardown.append(Double(timeline.duration("exited", "cleaned") ?? 0))
            baseline.append(Double(other.duration("spawn_start", "ready") ?? 0))
            for step in timeline.steps() { phases[step.name, default: []].append(step.milliseconds) }
        }
        print(describe("container call → READY", milliseconds(ready), unit: "ms"))
        print(describe("unshare spawn → READY ", milliseconds(baseline), unit: "ms"))
        print(describe("teardown exit → cleaned", milliseconds(teardown), unit: "ms"))
        if let ratio = Bootstrap.ratioOfMedians(ready, baseline) {
            print(String(format: "container / unshare: %.2f × (95 %% CI %.2f–%.2f)",
                         Statistics.median(ready) / Statistics.median(baseline), ratio.lower, ratio.upper))
        }
        print("where the time goes (median per phase, ms):")
        for phase in ["cloned", "cgroup_joined", "rootfs_ready", "exec", "ready", "exited", "cleaned"] {
            if let values = phases[phase] { print(String(format: "  %-14@ %.3f", phase, Statistics.median(values))) }
        }
    }
}

/// Time to READY of the same guest through libvirt and with QEMU started
/// directly (same kernel, initramfs, command line, memory and accelerator),
/// alternating; and the lab's own preparation before virDomainCreateXML.
struct VMStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm-start", abstract: "VM start to READY through libvirt, against QEMU started directly.")

    @OptionGroup var options: AgentOptions
    @Option(help: "Measured boots of each.") var runs = 8
    @Option(help: "Unmeasured boots of each first.") var warmup = 1

    func run() async throws {
        let agent = try options.agentPath()
        let paths = LabPaths.fromEnvironment()
        let image = try ImageBuilder(store: ImageStore(paths: paths), agentPath: agent).build(.builtinBusybox).record
        let kernel = try GuestKernel.find(paths: paths).get()
        let decision = try AcceleratorChoice.decide(.auto, kernel: kernel, paths: paths)
        guard let qemu = HostCommand.which("qemu-system-x86_64") else { throw ValidationError("qemu-system-x86_64 not found") }
        let connection = try await LibvirtConnection.open(uri: "qemu:///system")
        let machines = VirtualMachines(connection: connection)
        var viaLibvirt: [Double] = [], direct: [Double] = [], preparation: [Double] = [], create: [Double] = []
        for index in 0..<(warmup + runs) {
            var spec = VMSpec(kernel: kernel, initramfs: image.initramfs, workload: ["noop"])
            spec.accelerator = decision.accelerator
            let run = try await machines.run(spec)
            let other = try BareLauncher.run(qemu, [
                "-machine", "pc,accel=\(decision.accelerator.rawValue)", "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config",
                "-display", "none", "-serial", "stdio", "-no-reboot", "-kernel", kernel.path, "-initrd", image.initramfs,
                "-append", spec.commandLine,
            ], timeout: 180)
            guard index >= warmup else { continue }
            viaLibvirt.append(Double(run.timeline.duration("define_start", "ready") ?? 0))
            direct.append(Double(other.duration("spawn_start", "ready") ?? 0))
            preparation.append(Double(run.timeline.duration("define_start", "define_call") ?? 0))
            create.append(Double(run.timeline.duration("define_call", "domain_started") ?? 0))
        }
        print("accelerator: \(decision.accelerator.rawValue.uppercased()) (\(decision.reason))")
        print(describe("libvirt define → READY", milliseconds(viaLibvirt), unit: "ms"))
        print(describe("QEMU direct → READY   ", milliseconds(direct), unit: "ms"))
        print(describe("lab preparation       ", milliseconds(preparation), unit: "ms"))
        print(describe("virDomainCreateXML    ", milliseconds(create), unit: "ms"))
        if let ratio = Bootstrap.ratioOfMedians(viaLibvirt, direct) {
            print(String(format: "libvirt / direct: %.3f × (95 %% CI %.3f–%.3f)",
                         Statistics.median(viaLibvirt) / Statistics.median(direct), ratio.lower, ratio.upper))
        }
    }
}

/// The lab's own work per trial: planning, turning an outcome into a record
/// (samples from the timeline and the agent's lines) and the statistics at
/// the end, amortised over the trials of a startup-sized run.
struct Bookkeeping: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bookkeeping", abstract: "The runner's own cost per trial: plan, record, statistics.")

    @Option(help: "Measured runs.") var runs = 30

    func run() throws {
        var perTrial: [Double] = []
        for run in 0..<runs {
            let start = MonotonicClock.now()
            let plan = Runner.plan(backends: [.bare, .container, .vm], repetitions: 10, warmup: 2, seed: UInt64(run))
            var trials: [TrialRecord] = []
            for planned in plan {
                var timeline = Timeline()
                for (i, name) in ["spawn_start", "cloned", "cgroup_joined", "rootfs_ready", "exec", "ready", "exited", "cleaned"].enumerated() {
                    timeline.mark(name, at: UInt64(1_000_000 * (i + 1) + planned.index))
                }
                let lines = AgentLine.parseAll("ISOLAB READY version=1 uptime_ns=1 pid=1 kernel=k\nISOLAB DONE exit=0\n")
                let first = timeline.phases[0].ns
                var samples = [Sample(workload: "startup", metric: "ready", value: Double(timeline["ready"]! - first) / 1e6, unit: "ms")]
                samples.append(Sample(workload: "startup", metric: "total", value: Double(timeline["cleaned"]! - first) / 1e6, unit: "ms"))
                samples.append(Sample(workload: "resources", metric: "memory", value: Double(planned.index % 7), unit: "MiB"))
                var ready: [String: String]?
                if case .ready(let fields) = lines[0] { ready = fields }
                trials.append(TrialRecord(index: planned.index, round: planned.round, backend: planned.backend, warmup: planned.warmup,
                                          accelerator: nil, timeline: timeline.phases, samples: samples, agentResults: [], agentErrors: [],
                                          ready: ready, memorySource: "x", error: nil, consoleTail: nil))
            }
            _ = RunResults.summarize(trials, backends: [.bare, .container, .vm], seed: 1)
            perTrial.append(Double(MonotonicClock.now() - start) / Double(plan.count))
        }
        print(describe("bookkeeping per trial (36 trials, 3 metrics, 2000-resample bootstraps)", milliseconds(perTrial), unit: "ms"))
    }
}
