import ArgumentParser
import Foundation
import LabWire
import LabContainer
import LabCore
import LabDoctor
import LabImage
import LabModel
import LabRunner
import LabStats
import LabVirt

/// Whole-process comparisons, which need many external processes and so
/// are not package-benchmark benchmarks (those are in Benchmarks/<Name>/):
/// each alternates the lab's path with a baseline measured in the same run,
/// through the lab's own instance path (`InstanceRun`), and reports medians,
/// spread and the ratio with its bootstrap interval.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isolab-bench",
        abstract: "Whole-process benchmarks of the lab against its baselines (run the release build: swift build -c release).",
        subcommands: [AgentStart.self, AgentStability.self, ContainerStart.self, VMStart.self, CLIStart.self, PullThroughput.self]
    )
}

struct Rounds: ParsableArguments {
    @Option(help: "Measured runs of each.") var runs: Int?
    @Option(help: "Unmeasured runs of each first.") var warmup: Int?

    func validate() throws {
        if let runs, runs < 2 { throw ValidationError("--runs must be at least 2") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must not be negative") }
    }
}

/// The image every benchmark runs: the built-in one, built if missing.
func builtinImage() throws -> ImageStore.Record {
    try ImageBuilder(store: ImageStore(paths: .fromEnvironment()), agentPath: try ImageBuilder.defaultAgentPath()).build(.builtinBusybox).record
}

/// One run to its end through the lab's instance path; the named phase
/// span, in ns.
func measure(_ backend: any Backend, _ request: InstanceRequest, from: String, to: String) async throws -> (Double, InstanceOutcome) {
    let outcome = try await InstanceRun.run(backend, request)
    guard outcome.exit.code == 0 || outcome.exit == .poweredOff else {
        throw ValidationError("\(backend.kind.rawValue) run failed: \(outcome.exit.text); \(outcome.tail())")
    }
    guard let span = outcome.timeline.duration(from, to) else {
        throw ValidationError("\(backend.kind.rawValue) run has no \(from) → \(to): \(outcome.timeline.phases.map(\.name))")
    }
    return (Double(span), outcome)
}

func describe(_ label: String, _ ns: [Double], unit: String = "ms") -> String {
    let values = ns.map { $0 / 1e6 }
    guard let s = Summary(values) else { return "\(label): no samples" }
    return String(format: "%@  median %.3f %@  (MAD %.3f, min %.3f, p95 %.3f, max %.3f, n %d, %d outliers)",
                  label, s.median, unit, s.mad, s.min, s.p95, s.max, s.n, Statistics.outliers(values).count)
}

func ratioLine(_ label: String, _ top: [Double], _ bottom: [Double]) -> String {
    guard let ratio = Exact.ratio(top, bottom), let interval = ratio.interval() else { return "\(label): n/a" }
    return String(format: "%@: %.2f × (%.1f %% CI %.2f–%.2f, Hodges–Lehmann, exact)", label, ratio.ratio, interval.level * 100, interval.lower, interval.upper)
}

/// `isolab-agent run noop`, from posix_spawn to the READY line, against a
/// static `busybox true` from posix_spawn to its exit.
struct AgentStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent-start", abstract: "Bare agent start: spawn to READY, against busybox true.")
    @OptionGroup var rounds: Rounds

    func run() async throws {
        let image = try builtinImage()
        let agent = BareBackend(agent: image.rootfs + "/sbin/isolab-agent")
        var ready: [Double] = [], exited: [Double] = [], base: [Double] = []
        let (runs, warmup) = (rounds.runs ?? 300, rounds.warmup ?? 20)
        for index in 0..<(warmup + runs) {
            let (toReady, outcome) = try await measure(agent, InstanceRequest(.agent(["noop"]), timeout: 30), from: "spawn_start", to: "ready")
            let (toExit, _) = try await measure(agent, InstanceRequest(.command(["busybox", "true"]), timeout: 30), from: "spawn_start", to: "exited")
            guard index >= warmup else { continue }
            ready.append(toReady)
            exited.append(Double(outcome.timeline.duration("spawn_start", "exited") ?? 0))
            base.append(toExit)
        }
        print(describe("agent spawn → READY ", ready))
        print(describe("agent spawn → exit  ", exited))
        print(describe("busybox true → exit ", base))
        print(ratioLine("READY / busybox true", ready, base))
    }
}

/// Rounds of N runs of `cpu` and `memory`: how much the median of N moves
/// from round to round.
struct AgentStability: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent-stability", abstract: "Run-to-run stability of the cpu and memory workloads.")
    @Option(help: "Rounds.") var rounds = 3
    @Option(help: "Runs per round (the median of these is one round's figure).") var runs = 5

    func run() async throws {
        let agent = BareBackend(agent: try builtinImage().rootfs + "/sbin/isolab-agent")
        var medians: [String: [Double]] = [:]
        var units: [String: String] = [:]
        for _ in 0..<rounds {
            var values: [String: [Double]] = [:]
            for _ in 0..<runs {
                let outcome = try await InstanceRun.run(agent, InstanceRequest(.agent(["cpu", "memory"]), timeout: 300))
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

/// The lab's container, from the call to READY with all namespaces and a
/// memory limit, against util-linux's unshare with the same namespaces
/// running the same agent from the same rootfs (no cgroup, no pivot_root,
/// no capability drop), alternating; and the same container without its
/// seccomp filter and device rules, to price them.
struct ContainerStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "container-start", abstract: "Container start to READY and teardown, against unshare, with and without seccomp and device rules.")
    @OptionGroup var rounds: Rounds

    func run() async throws {
        let image = try builtinImage()
        let layout = try CgroupLayout.detectHost()
        let capabilities = try Capabilities.set(adding: [], dropping: []).mask
        let container = ContainerBackend(rootfs: image.rootfs, limits: .init(memoryBytes: 256 << 20), layout: layout, capabilities: capabilities)
        var plain = ContainerSpec(rootfs: image.rootfs, command: [], limits: .init(memoryBytes: 256 << 20), capabilities: capabilities)
        plain.seccomp = .unconfined
        plain.restrictDevices = false
        let withoutHardening = ContainerBackend(template: plain, layout: layout)
        let bare = BareBackend(agent: image.rootfs + "/sbin/isolab-agent")
        let unshare = ["unshare", "--pid", "--fork", "--mount-proc", "--mount", "--uts", "--ipc", "--net", image.rootfs + "/sbin/isolab-agent", "run", "noop"]
        var ready: [Double] = [], teardown: [Double] = [], baseline: [Double] = [], unhardened: [Double] = []
        var phases: [String: [Double]] = [:]
        let (runs, warmup) = (rounds.runs ?? 100, rounds.warmup ?? 10)
        for index in 0..<(warmup + runs) {
            let (toReady, outcome) = try await measure(container, InstanceRequest(.agent(["noop"]), timeout: 30), from: "spawn_start", to: "ready")
            let (plainReady, _) = try await measure(withoutHardening, InstanceRequest(.agent(["noop"]), timeout: 30), from: "spawn_start", to: "ready")
            let (floor, _) = try await measure(bare, InstanceRequest(.command(unshare), timeout: 30), from: "spawn_start", to: "ready")
            guard index >= warmup else { continue }
            ready.append(toReady)
            unhardened.append(plainReady)
            teardown.append(Double(outcome.timeline.duration("exited", "cleaned") ?? 0))
            baseline.append(floor)
            for step in outcome.timeline.steps() { phases[step.name, default: []].append(step.milliseconds) }
        }
        print("cgroups: \(Doctor.hostFacts(vm: false).cgroupMode ?? "?")\(Doctor.hostFacts(vm: false).cgroupFavorDynmods == true ? " with favordynmods" : "")")
        print(describe("container call → READY ", ready))
        print(describe("  without seccomp, dev ", unhardened))
        print(describe("unshare spawn → READY  ", baseline))
        print(describe("teardown exit → cleaned", teardown))
        print(ratioLine("container / unshare", ready, baseline))
        print(ratioLine("without seccomp and device rules / unshare", unhardened, baseline))
        print(ratioLine("container / without seccomp and device rules", ready, unhardened))
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
    static let configuration = CommandConfiguration(commandName: "vm-start", abstract: "VM start to READY through libvirt, against QEMU started directly.")
    @OptionGroup var rounds: Rounds

    func run() async throws {
        let paths = LabPaths.fromEnvironment()
        let image = try builtinImage()
        let kernel = try GuestKernel.find(paths: paths).get()
        let (decision, _) = try Doctor(options: Doctor.Options()).acceleratorDecision(.auto, kernel: kernel)
        let vm = VMBackend(connection: try await LibvirtConnection.open(uri: "qemu:///system"), kernel: kernel, initramfs: image.initramfs,
                           settings: Scenario.VMSettings(), accelerator: decision.accelerator)
        let bare = BareBackend(agent: image.rootfs + "/sbin/isolab-agent")
        let qemu = ["qemu-system-x86_64", "-machine", "pc,accel=\(decision.accelerator.rawValue)", "-m", "256", "-smp", "1", "-nodefaults",
                    "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot", "-kernel", kernel.path, "-initrd", image.initramfs,
                    "-append", VMSpec(kernel: kernel, initramfs: image.initramfs, workload: ["noop"]).commandLine]
        var viaLibvirt: [Double] = [], direct: [Double] = [], preparation: [Double] = [], create: [Double] = []
        let (runs, warmup) = (rounds.runs ?? 8, rounds.warmup ?? 1)
        for index in 0..<(warmup + runs) {
            let (guest, outcome) = try await measure(vm, InstanceRequest(.agent(["noop"]), timeout: 180), from: "define_start", to: "ready")
            let (floor, _) = try await measure(bare, InstanceRequest(.command(qemu), timeout: 180), from: "spawn_start", to: "ready")
            guard index >= warmup else { continue }
            viaLibvirt.append(guest)
            direct.append(floor)
            preparation.append(Double(outcome.timeline.duration("define_start", "define_call") ?? 0))
            create.append(Double(outcome.timeline.duration("define_call", "domain_started") ?? 0))
        }
        print("accelerator: \(decision.accelerator.label) (\(decision.reason))")
        print(describe("libvirt define → READY", viaLibvirt))
        print(describe("QEMU direct → READY   ", direct))
        print(describe("lab preparation       ", preparation))
        print(describe("virDomainCreateXML    ", create))
        print(ratioLine("libvirt / direct", viaLibvirt, direct))
    }
}

/// The `isolab` command's own cost as a user pays it, whole process, each
/// against its floor in the same run: `isolab --version` against
/// `/bin/true`, and `isolab container run` of the agent against `unshare`
/// + `chroot` of the same agent (and `runc run` of it, where runc is
/// installed and accepts this host's cgroups). The same container started
/// from this running process is the floor under any CLI: with /bin/true
/// added, it says whether the 2 × target is within any CLI's reach here.
struct CLIStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cli-start", abstract: "isolab's own start, whole process, against /bin/true, unshare, runc and the same container in process.")
    @OptionGroup var rounds: Rounds
    @Option(help: "The isolab executable (default: the one beside this benchmark).") var isolab: String?
    @Option(help: "Another isolab executable (an older build) to measure in the same rounds, for a before/after.") var before: String?
    @Flag(help: "Then run `isolab container run --timeline` as many times and print each phase's median, and the rest of the process.") var phases = false

    func run() async throws {
        let executable = isolab ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/isolab"
        guard FileSystem.exists(executable) else { throw ValidationError("no isolab at \(executable); pass --isolab") }
        let image = try builtinImage()
        let bare = BareBackend(agent: image.rootfs + "/sbin/isolab-agent")
        let runc = RuncBundle.prepare(rootfs: image.rootfs)
        var commands: [(String, [String])] = [
            ("/bin/true", ["true"]),
            ("isolab --version", [executable, "--version"]),
            // --root then --mount-proc: the agent must find /proc inside its new root, or as a
            // PID 1 without /proc it takes itself for a VM's init and powers the namespace off.
            ("unshare + chroot, agent noop", ["unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--net",
                                              "--root=" + image.rootfs, "--mount-proc", "/sbin/isolab-agent", "run", "noop"]),
            ("isolab container run, agent noop", [executable, "container", "run", "--", "/sbin/isolab-agent", "run", "noop"]),
        ]
        if let runc { commands.append(("runc run, agent noop", runc.command)) }
        if let before {
            commands.append(("before: isolab --version", [before, "--version"]))
            commands.append(("before: isolab container run, noop", [before, "container", "run", "--", "/sbin/isolab-agent", "run", "noop"]))
        }
        defer { runc?.remove() }
        // The floor under any CLI: the same container (default capabilities
        // and seccomp, no limits) started from this running process, from the
        // call to its return after teardown.
        let capabilities = try Capabilities.set(adding: [], dropping: []).mask
        let inProcess = ContainerBackend(rootfs: image.rootfs, limits: .init(), layout: try CgroupLayout.detectHost(), capabilities: capabilities)
        var times: [[Double]] = Array(repeating: [], count: commands.count)
        var runtime: [Double] = []
        let (runs, warmup) = (rounds.runs ?? 20, rounds.warmup ?? 3)
        for index in 0..<(warmup + runs) {
            // Every other round in reverse: a command's place in the round
            // (OLD always after the new build) once showed as a 1.15 x
            // difference that hyperfine, in either order, did not.
            let order = index % 2 == 0 ? Array(commands.indices) : Array(commands.indices.reversed())
            for position in order {
                let (span, _) = try await measure(bare, InstanceRequest(.command(commands[position].1), timeout: 60), from: "spawn_start", to: "exited")
                if index >= warmup { times[position].append(span) }
            }
            var request = InstanceRequest(.command(["/sbin/isolab-agent", "run", "noop"]), timeout: 60)
            request.sampleMemory = false
            request.measureDisk = false
            let called = MonotonicClock.now()
            let outcome = try await InstanceRun.run(inProcess, request)
            let returned = MonotonicClock.now()
            guard outcome.exit.code == 0 else { throw ValidationError("in-process container failed: \(outcome.exit.text); \(outcome.tail())") }
            if index >= warmup { runtime.append(Double(returned - called)) }
        }
        print("cgroups: \(Doctor.hostFacts(vm: false).cgroupMode ?? "?")\(Doctor.hostFacts(vm: false).cgroupFavorDynmods == true ? " with favordynmods" : "")")
        for (position, command) in commands.enumerated() {
            print(describe(command.0.padding(toLength: 34, withPad: " ", startingAt: 0), times[position]))
        }
        print(ratioLine("isolab --version / true", times[1], times[0]))
        print(describe("the same container, in process".padding(toLength: 34, withPad: " ", startingAt: 0), runtime))
        print(ratioLine("container run / unshare + chroot", times[3], times[2]))
        print(ratioLine("in-process container / unshare", runtime, times[2]))
        // A CLI costs at least a process that starts and exits: the
        // container from a running process plus /bin/true, round by round.
        let floor = zip(runtime, times[0]).map { $0 + $1 }
        print(ratioLine("(in-process + true) / unshare", floor, times[2]))
        print(describe("the CLI's own share (paired)".padding(toLength: 34, withPad: " ", startingAt: 0), zip(times[3], runtime).map { $0 - $1 }))
        print(targetLine(ceiling: 2, whole: Exact.ratio(times[3], times[2])?.interval(), floor: Exact.ratio(floor, times[2])?.interval()))
        if runc != nil { print(ratioLine("container run / runc run", times[3], times[4])) }
        if before != nil {
            let base = runc != nil ? 5 : 4
            print(ratioLine("isolab --version, now / before", times[1], times[base]))
            print(ratioLine("container run, now / before", times[3], times[base + 1]))
        }
        if phases { try await printPhases(executable, bare, runs: runs, warmup: warmup) }
    }

    /// Where `container run`'s time goes, whole process: its own marks
    /// (`ISOLAB_TRACE_START`: main, parsed, image, layout, instance,
    /// instance_done, ran) between this benchmark's spawn and the exit it
    /// saw, and the container's timeline (`--timeline`) inside the instance.
    func printPhases(_ executable: String, _ bare: BareBackend, runs: Int, warmup: Int) async throws {
        var traced = bare
        traced.environment.append("ISOLAB_TRACE_START=1")
        var spans: [String: [Double]] = [:], order: [String] = []
        func add(_ name: String, _ ns: Double) {
            if spans[name] == nil { order.append(name) }
            spans[name, default: []].append(ns)
        }
        for index in 0..<(warmup + runs) {
            let request = InstanceRequest(.command([executable, "container", "run", "--timeline", "--", "/sbin/isolab-agent", "run", "noop"]),
                                          timeout: 60, mergeStderr: true)
            let (whole, outcome) = try await measure(traced, request, from: "spawn_start", to: "exited")
            guard index >= warmup else { continue }
            guard let spawned = outcome.timeline["spawn_start"], let exited = outcome.timeline["exited"] else { continue }
            let marks = [("spawn", spawned)] + StartTrace.marks(in: outcome.output) + [("exit", exited)]
            guard marks.count == 9 else { throw ValidationError("expected 7 marks from a traced run, got \(marks.map(\.0))") }
            add("whole process", whole)
            for (from, to) in zip(marks, marks.dropFirst()) {
                add("\(from.0) → \(to.0)", Double(to.1) - Double(from.1))
                if to.0 == "instance_done" {
                    // The container's own phases, inside `instance → instance_done`.
                    for line in outcome.output.split(separator: "\n") {
                        // `cloned           +     3.893 ms   at      3.893 ms`
                        let words = line.split(separator: " ")
                        guard words.count == 7, words[1] == "+", words[3] == "ms", words[4] == "at", words[0] != "spawn_start",
                              let delta = Double(words[2]) else { continue }
                        add("    container: + \(words[0])", delta * 1e6)
                    }
                }
            }
        }
        print("isolab container run --timeline, traced (ISOLAB_TRACE_START), medians:")
        for name in order { print(describe("  " + name.padding(toLength: 34, withPad: " ", startingAt: 0), spans[name] ?? [])) }
    }
}

/// The target `container run` ≤ `ceiling` × unshare, read from intervals:
/// whether it is met, and whether a CLI costing nothing beyond /bin/true
/// over the same container runtime could meet it on this host.
func targetLine(ceiling: Double, whole: Interval?, floor: Interval?) -> String {
    guard let whole, let floor else { return "target: n/a" }
    let target = String(format: "container run ≤ %.0f × unshare", ceiling)
    let met: String
    switch Ceiling.position(of: whole, against: ceiling) {
    case .below: met = "met"
    case .straddles: met = "undecided (its interval contains the target)"
    case .above: met = "not met"
    }
    let reach: String
    switch Ceiling.position(of: floor, against: ceiling) {
    case .below: reach = "within reach of a CLI over this runtime"
    case .straddles: reach = "at the edge: only a CLI costing about nothing beyond /bin/true could meet it"
    case .above: reach = "out of reach of any CLI over this runtime on this host"
    }
    return "\(target): \(met); \(reach)"
}

/// A throw-away OCI bundle of the image for `runc run`, or nil where runc
/// is missing or refuses this host.
struct RuncBundle {
    var directory: String
    var command: [String]

    static func prepare(rootfs: String) -> RuncBundle? {
        guard let runc = HostCommand.which("runc") else { return nil }
        let directory = NSTemporaryDirectory() + "isolab-bench-runc-\(getpid())"
        try? FileSystem.removeTree(directory)
        guard (try? FileSystem.makeDirectory(directory, mode: 0o700)) != nil,
              (try? HostCommand.run(runc, ["spec", "--bundle", directory]))?.status == 0 else { return nil }
        let config = directory + "/config.json"
        guard var json = (try? JSONSerialization.jsonObject(with: Data(FileSystem.readTextIfPresent(config)?.utf8 ?? "".utf8))) as? [String: Any],
              var process = json["process"] as? [String: Any], var root = json["root"] as? [String: Any] else { return nil }
        process["args"] = ["/sbin/isolab-agent", "run", "noop"]
        process["terminal"] = false
        root["path"] = rootfs
        json["process"] = process
        json["root"] = root
        guard let data = try? JSONSerialization.data(withJSONObject: json) else { return nil }
        try? FileSystem.writeAtomically(config, bytes: Array(data))
        let bundle = RuncBundle(directory: directory, command: [runc, "run", "--bundle", directory, "isolab-bench-\(getpid())"])
        guard let probe = try? HostCommand.run(runc, ["run", "--bundle", directory, "isolab-bench-probe-\(getpid())"], timeout: 30),
              probe.status == 0 else {
            bundle.remove()
            return nil
        }
        return bundle
    }

    func remove() { try? FileSystem.removeTree(directory) }
}
