import Foundation
import LabAnalysis
import LabContainer
import LabCore
import LabModel

/// cgroups limit: an allocation over the memory limit is killed and the
/// kernel's OOM counter goes up by one; a fork bomb stops at pids.max.
struct LimitsDemo: Demo {
    let name = "limits"
    let title = "cgroups limit: memory and processes"
    let claim = ClaimCatalogue.statement("cgroup.limit")
    let feature = "the limits (none are written)"
    let needsVM = false

    func run(_ s: DemoSession) async throws {
        let (limitMiB, allocationMiB, pidsLimit, children) = (LimitProbe.limitMiB, LimitProbe.allocationMiB, LimitProbe.pidsLimit, LimitProbe.children)
        let memoryLimits = s.without ? CgroupLimits() : CgroupLimits(memoryBytes: UInt64(limitMiB) << 20)
        let allocate = InstanceRequest(.agent(["alloc", "--mib", String(allocationMiB), "--hold-ms", "200"]), timeout: 60)
        let counters = Carried<(before: Int?, file: String)>((nil, ""))
        let kept = Carried<(any InstanceCgroup)?>(nil)
        let limited = try await InstanceRun.run(try s.container(limits: memoryLimits), allocate, endAfterDuring: false) { instance in
            let group = try Probed(instance, for: "the limits demo").cgroups
            kept.value = group
            counters.value = (group.stats().oomKills, s.context.layout.mode == .v2 ? "memory.events oom_kill" : "memory.oom_control oom_kill")
        }
        let after = kept.value?.statsAtExit?.oomKills
        s.evidence["oom_kill.before"] = counters.value.before.map(String.init) ?? "?"
        s.evidence["oom_kill.after"] = after.map(String.init) ?? "?"
        s.evidence["exit"] = limited.exit.text
        s.step("Allocate \(allocationMiB) MiB in a container limited to \(limitMiB) MiB (no swap); read the group's OOM-kill counter before and after",
               command: "echo \(limitMiB)M > memory.max; isolab-agent run alloc --mib \(allocationMiB); grep oom_kill memory.events",
               expect: "the allocation is killed, and the counter goes up by one",
               inside: limited.exit.text,
               host: "\(counters.value.file): \(counters.value.before.map(String.init) ?? "?") before, \(after.map(String.init) ?? "?") after",
               passed: (after ?? 0) - (counters.value.before ?? 0) == 1 && limited.exit.code != 0)

        let bomb = LimitProbe.bomb
        let (peak, events) = try await Self.bomb(s, bomb, limits: s.without ? CgroupLimits() : CgroupLimits(pids: pidsLimit))
        s.evidence["pids.peak"] = String(peak)
        s.evidence["pids.events.max"] = events.map(String.init) ?? "?"
        s.step("Start \(children) processes from one shell in a container limited to \(pidsLimit) processes; count them, and read the pids events counter",
               command: "echo \(pidsLimit) > pids.max; for i in $(seq \(children)); do sleep 2 & done; cat pids.current; grep max pids.events",
               expect: "at most \(pidsLimit) at once, and forks refused (the counter above 0)",
               inside: "at most \(peak) processes", host: "pids.events max \(events.map(String.init) ?? "?")",
               passed: peak <= pidsLimit && peak > 0 && (events ?? 0) > 0)

        let control = try await InstanceRun.run(try s.container(), allocate)
        let (controlPeak, _) = try await Self.bomb(s, bomb, limits: CgroupLimits())
        s.control("The same allocation and the same processes in a container without limits",
                  command: "isolab-agent run alloc --mib \(allocationMiB); the same loop",
                  expect: "the allocation completes; all \(children) processes start",
                  inside: "\(control.exit.text); at most \(controlPeak) processes", host: "no limit written",
                  sawHost: control.exit.code == 0 && controlPeak > pidsLimit)
    }

    /// The largest process count seen while `script` ran, and pids.events max at the end.
    static func bomb(_ s: DemoSession, _ script: String, limits: CgroupLimits) async throws -> (Int, Int?) {
        try await CgroupCheck.processPeak(try s.container(limits: limits), s.shell(script, timeout: 60))
    }
}

/// cgroups prioritise: two busy containers on one CPU split it by weight,
/// a quota caps one; unpinned on two cores, weights do nothing.
struct CPUShareDemo: Demo {
    let name = "cpu-share"
    let title = "cgroups prioritise: CPU time shared by weight, capped by a quota"
    let claim = ClaimCatalogue.statement("cgroup.prioritise")
    let feature = "the weights and the quota (equal weights, no quota)"
    let needsVM = false

    func run(_ s: DemoSession) async throws {
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let cpu = max(online - 1, 0)
        let weights = s.without ? [100, 100] : [100, 300]
        let window = 2.0
        let shares = try await CgroupCheck.split(s.context, weights: weights, cpu: cpu, window: window)
        let file = s.context.layout.mode == .v2 ? "cpu.weight" : "cpu.shares"
        let written = weights.map { s.context.layout.mode == .v2 ? $0 : CgroupLimits.shares(fromWeight: $0) }
        s.evidence["split"] = shares.map { String(format: "%.3f", $0) }.joined(separator: " ")
        s.step("Run two busy containers pinned to CPU \(cpu), weights 1:3 (\(file) \(written[0]) and \(written[1])); measure each group's CPU time over \(Int(window)) s",
               command: "echo \(written[0]) > A/\(file); echo \(written[1]) > B/\(file); taskset -c \(cpu) (both); cat cpuacct.usage",
               expect: "about 25 % and 75 % of the CPU (± 8)",
               inside: String(format: "A %.0f %%, B %.0f %%", shares[0] * 100, shares[1] * 100), host: "\(file) \(written[0]) : \(written[1])",
               passed: abs(shares[0] - 0.25) <= 0.08 && abs(shares[1] - 0.75) <= 0.08)
        let quota = 0.2
        let used = try await Self.used(s, limits: s.without ? CgroupLimits() : CgroupLimits(cpus: quota), cpu: cpu, window: window)
        s.evidence["quota.used"] = String(format: "%.3f", used)
        s.step("One busy container alone on CPU \(cpu) with a quota of 20 % of a CPU",
               command: "echo \"20000 100000\" > cpu.max",
               expect: "it settles near 20 % (± 5)",
               inside: String(format: "%.0f %% of a CPU", used * 100), host: "quota 20 %", passed: abs(used - quota) <= 0.05)
        var unpinned: [Double] = []
        if online >= 2 {
            unpinned = try await CgroupCheck.split(s.context, weights: [100, 300], cpu: nil, window: window)
        }
        s.evidence["unpinned"] = unpinned.map { String(format: "%.3f", $0) }.joined(separator: " ")
        s.chart = DemoChart(title: "Share of CPU time (weights 1:3 pinned; 20 % quota; 1:3 unpinned)", unit: "%", bars: [
            .init(label: "A, weight 1", value: shares[0] * 100), .init(label: "B, weight 3", value: shares[1] * 100),
            .init(label: "quota 20 %", value: used * 100),
        ] + (unpinned.count == 2 ? [.init(label: "A unpinned", value: unpinned[0] * 100), .init(label: "B unpinned", value: unpinned[1] * 100)] : []))
        // The control: weights act only under contention.
        s.control("The same two containers, weights 1:3, not pinned, on \(online) CPUs",
                  command: "the same, without taskset",
                  expect: "about 50 % each: with a CPU each there is nothing to share, so weights do nothing",
                  inside: unpinned.count == 2 ? String(format: "A %.0f %%, B %.0f %%", unpinned[0] * 100, unpinned[1] * 100) : "one CPU: not run",
                  host: "\(online) CPUs", sawHost: unpinned.count == 2 && abs(unpinned[0] - 0.5) <= 0.12)
    }

    /// The fraction of one CPU a busy container uses over `window`.
    static func used(_ s: DemoSession, limits: CgroupLimits, cpu: Int, window: Double) async throws -> Double {
        try await CgroupCheck.cpuFraction(try s.container(limits: limits, cpuAffinity: [cpu]), window: window)
    }

}

/// cgroups freeze: a counting process stops, the group says frozen, memory
/// stays, and it counts on after the thaw.
struct FreezeDemo: Demo {
    let name = "freeze"
    let title = "cgroups freeze: stop a container without killing it"
    let claim = ClaimCatalogue.statement("cgroup.freeze")
    let feature = "the freeze (nothing is written to the freezer)"
    let needsVM = false

    func run(_ s: DemoSession) async throws {
        let hold = 0.5
        let v2 = s.context.layout.mode == .v2
        let seen = Carried<[String: String]>([:])
        _ = try await InstanceRun.run(try s.container(),
                                      s.shell("i=0; while :; do i=$((i+1)); echo $i >> /tmp/counter; done", timeout: 30)) { instance in
            let container = try Probed(instance, for: "the cgroup demo")
            let path = "/proc/\(container.pid)/root/tmp/counter"
            for _ in 0..<500 where lastCount(path) <= 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            // The control: the counter's progress over the same hold, unfrozen.
            let c0 = lastCount(path)
            try await Task.sleep(nanoseconds: UInt64(hold * 1e9))
            let c1 = lastCount(path)
            var start = MonotonicClock.now()
            if !s.without { try container.freeze() }
            let freezeMs = Double(MonotonicClock.now() - start) / 1e6
            let state = Self.freezerState(container.cgroups.directories)
            let frozen = lastCount(path)
            // Read once frozen, not before: a shell still running between a
            // read and the freeze may charge or free a page (seen: 744 KiB
            // before, 740 frozen), which says nothing about the freeze.
            let memoryBefore = container.stats().memoryCurrentBytes
            try await Task.sleep(nanoseconds: UInt64(hold * 1e9))
            let held = lastCount(path)
            let memoryFrozen = container.stats().memoryCurrentBytes
            start = MonotonicClock.now()
            if !s.without { try container.thaw() }
            let thawMs = Double(MonotonicClock.now() - start) / 1e6
            try await Task.sleep(nanoseconds: 300_000_000)
            let resumed = lastCount(path)
            seen.value = [
                "control.before": String(c0), "control.after": String(c1), "frozen": String(frozen), "held": String(held),
                "resumed": String(resumed), "state": state, "freeze_ms": String(format: "%.2f", freezeMs), "thaw_ms": String(format: "%.2f", thawMs),
                "memory.before": memoryBefore.map { String($0 / 1024) } ?? "?", "memory.frozen": memoryFrozen.map { String($0 / 1024) } ?? "?",
            ]
        }
        let v = seen.value
        guard !v.isEmpty else { throw LabError(.failed, "the counting container did not start counting") }
        s.evidence = v
        let file = v2 ? "cgroup.freeze, cgroup.events frozen" : "freezer.state"
        s.step("Freeze a container whose shell counts as fast as it can; read the group's state",
               command: v2 ? "echo 1 > cgroup.freeze; grep frozen cgroup.events" : "echo FROZEN > freezer.state; cat freezer.state",
               expect: "frozen, in a fraction of a millisecond to a few",
               inside: "counter at \(v["frozen"] ?? "?")", host: "\(file): \(v["state"] ?? "?") (took \(v["freeze_ms"] ?? "?") ms)",
               passed: v["state"] == "frozen")
        s.step("Wait \(hold) s; read the counter and the group's memory",
               command: "tail -1 /tmp/counter; cat memory.current",
               expect: "the counter has not moved, and the memory is the same",
               inside: "counter \(v["frozen"] ?? "?") → \(v["held"] ?? "?")",
               host: "memory \(v["memory.before"] ?? "?") KiB at the freeze, \(v["memory.frozen"] ?? "?") KiB \(hold) s later",
               passed: v["frozen"] == v["held"] && v["memory.before"] == v["memory.frozen"])
        s.step("Thaw it", command: v2 ? "echo 0 > cgroup.freeze" : "echo THAWED > freezer.state",
               expect: "it counts on from where it stopped",
               inside: "counter \(v["held"] ?? "?") → \(v["resumed"] ?? "?")", host: "thawed in \(v["thaw_ms"] ?? "?") ms",
               passed: (Int(v["resumed"] ?? "") ?? 0) > (Int(v["held"] ?? "") ?? Int.max))
        s.control("The same counter over the same \(hold) s before the freeze",
                  command: "tail -1 /tmp/counter", expect: "it moves",
                  inside: "counter \(v["control.before"] ?? "?") → \(v["control.after"] ?? "?")", host: "not frozen",
                  sawHost: (Int(v["control.after"] ?? "") ?? 0) > (Int(v["control.before"] ?? "") ?? Int.max))
    }

    /// `frozen` or `thawed` as the kernel reports it (v2 cgroup.events, v1 freezer.state).
    static func freezerState(_ directories: [String]) -> String {
        for directory in directories {
            if let events = FileSystem.readTextIfPresent(directory + "/cgroup.events"),
               let line = events.split(separator: "\n").first(where: { $0.hasPrefix("frozen ") }) {
                return line.hasSuffix(" 1") ? "frozen" : "thawed"
            }
            if let state = FileSystem.readTextIfPresent(directory + "/freezer.state") {
                return state.trimmingWhitespace() == "FROZEN" ? "frozen" : state.trimmingWhitespace().lowercased()
            }
        }
        return "?"
    }
}
