import Foundation
import LabWire
import LabContainer
import LabCore
import LabModel

/// The four things the notes say cgroups do, each measured on containers of
/// the lab's own, never read back from a file the lab wrote: limit (an
/// allocation over a memory limit is killed, the same one without a limit
/// completes; a fork bomb stops at a pids limit), prioritise (two CPU-bound
/// containers pinned to one CPU split it by their weights; equal weights
/// split it evenly; a quota caps one), account (the group's CPU time agrees
/// with the agent's own), freeze (a counter stops, and goes on after a thaw).
enum CgroupCheck {
    static func run(_ context: CheckContext) async -> CgroupEvidence {
        var evidence = CgroupEvidence(mode: context.layout.mode.rawValue)
        do { evidence.limit = try await limit(context) } catch { evidence.errors.append("limit: \(error)") }
        do { evidence.prioritise = try await prioritise(context) } catch { evidence.errors.append("prioritise: \(error)") }
        do { evidence.account = try await account(context) } catch { evidence.errors.append("account: \(error)") }
        do { evidence.freeze = try await freeze(context) } catch { evidence.errors.append("freeze: \(error)") }
        return evidence
    }

    /// Runs `request` in a container and keeps the container's instance for
    /// its cgroup counters, read at the end.
    static func contained(_ backend: ContainerBackend, _ request: InstanceRequest) async throws -> (InstanceOutcome, CgroupStats?) {
        let kept = Carried<(any InstanceCgroup)?>(nil)
        let outcome = try await InstanceRun.run(backend, request, endAfterDuring: false) { kept.value = try Probed($0, for: "the cgroup check").cgroups }
        return (outcome, kept.value?.statsAtExit)
    }

    static func limit(_ context: CheckContext) async throws -> CgroupEvidence.Limit {
        let (limitMiB, allocationMiB, pidsLimit) = (LimitProbe.limitMiB, LimitProbe.allocationMiB, LimitProbe.pidsLimit)
        let allocate = InstanceRequest(.agent(["alloc", "--mib", String(allocationMiB), "--hold-ms", "200"]), timeout: 60)
        let (limited, stats) = try await contained(try context.container(limits: CgroupLimits(memoryBytes: UInt64(limitMiB) << 20)), allocate)
        let control = try await InstanceRun.run(try context.container(), allocate)
        let bomb = LimitProbe.bomb
        let (pidsPeak, forksRefused) = try await processPeak(try context.container(limits: CgroupLimits(pids: pidsLimit)), context.shell(bomb, timeout: 60))
        let (pidsControlPeak, _) = try await processPeak(try context.container(), context.shell(bomb, timeout: 60))
        return CgroupEvidence.Limit(
            memoryLimitMiB: limitMiB, allocationMiB: allocationMiB, limitedExit: limited.exit.text, oomKills: stats?.oomKills,
            peakMiB: stats?.memoryPeakBytes.map { Double($0) / 1_048_576 }, controlExit: control.exit.text,
            pidsLimit: pidsLimit, pidsPeak: pidsPeak, forksRefused: forksRefused, pidsControlPeak: pidsControlPeak)
    }

    /// The most processes `request` had at once in a container of `backend`
    /// (pids.peak where the kernel has it, else pids.current sampled every
    /// 10 ms for a second), and the forks the pids limit refused.
    static func processPeak(_ backend: ContainerBackend, _ request: InstanceRequest) async throws -> (peak: Int, limitHits: Int?) {
        let peak = Carried(0)
        let kept = Carried<(any InstanceCgroup)?>(nil)
        _ = try await InstanceRun.run(backend, request, endAfterDuring: false) { instance in
            let group = try Probed(instance, for: "the cgroup check").cgroups
            kept.value = group
            for _ in 0..<100 {
                if let current = group.stats().pidsCurrent { peak.value = max(peak.value, current) }
                try await Task.sleep(nanoseconds: 10_000_000)
            }
        }
        let stats = kept.value?.statsAtExit
        return (max(stats?.pidsPeak ?? 0, peak.value), stats?.pidsLimitHits)
    }

    /// The fraction of one CPU a busy agent uses in `backend`'s container over `window` seconds.
    static func cpuFraction(_ backend: ContainerBackend, window: Double) async throws -> Double {
        let fraction = Carried(0.0)
        _ = try await InstanceRun.run(backend, InstanceRequest(.agent(["cpu", "--seconds", "120"]), timeout: 180)) { instance in
            let container = try Probed(instance, for: "the cgroup check")
            try await Task.sleep(nanoseconds: 300_000_000)
            let start = container.stats().cpuUsageNs ?? 0
            let startedAt = MonotonicClock.now()
            try await Task.sleep(nanoseconds: UInt64(window * 1e9))
            fraction.value = Double((container.stats().cpuUsageNs ?? 0) &- start) / Double(MonotonicClock.now() - startedAt)
        }
        return fraction.value
    }

    /// CPU time of each container's group over `window` seconds, once both
    /// run; both pinned to `cpu`, or free on every CPU when it is nil.
    static func split(_ context: CheckContext, weights: [Int], cpu: Int?, window: Double) async throws -> [Double] {
        // Busy for far longer than the window: the lab ends both once it has measured.
        let busy = InstanceRequest(.agent(["cpu", "--seconds", "120"]), timeout: 180)
        let first = try context.container(limits: CgroupLimits(cpuWeight: weights[0]), cpuAffinity: cpu.map { [$0] })
        let second = try context.container(limits: CgroupLimits(cpuWeight: weights[1]), cpuAffinity: cpu.map { [$0] })
        let used = Carried<[Double]>([])
        _ = try await InstanceRun.run(first, busy) { a in
            let groupA = try Probed(a, for: "the cgroup check")
            _ = try await InstanceRun.run(second, busy) { b in
                let groupB = try Probed(b, for: "the cgroup check")
                // Both started and busy: then a fixed window.
                try await Task.sleep(nanoseconds: 500_000_000)
                let startA = groupA.stats().cpuUsageNs ?? 0, startB = groupB.stats().cpuUsageNs ?? 0
                try await Task.sleep(nanoseconds: UInt64(window * 1e9))
                let endA = groupA.stats().cpuUsageNs ?? 0, endB = groupB.stats().cpuUsageNs ?? 0
                used.value = [Double(endA &- startA), Double(endB &- startB)]
            }
        }
        let total = used.value.reduce(0, +)
        guard used.value.count == 2, total > 0 else { throw LabError(.failed, "no CPU time was accounted to the two containers") }
        return used.value.map { $0 / total }
    }

    static func prioritise(_ context: CheckContext) async throws -> CgroupEvidence.Prioritise {
        let cpu = max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) - 1, 0)
        let (weights, window) = ([100, 300], 2.0)
        let shares = try await split(context, weights: weights, cpu: cpu, window: window)
        let control = try await split(context, weights: [100, 100], cpu: cpu, window: window)
        // What the weights became on this host, read from the files of a fresh group.
        let file = context.layout.mode == .v2 ? "cpu.weight" : "cpu.shares"
        let written = weights.map { weight in
            "\(file)=" + (context.layout.mode == .v2 ? String(weight) : String(CgroupLimits.shares(fromWeight: weight)))
        }
        // A quota of a fifth of a CPU, alone on the CPU; the control, the same without a quota.
        let quota = 0.2
        func used(_ limits: CgroupLimits) async throws -> Double {
            try await cpuFraction(try context.container(limits: limits, cpuAffinity: [cpu]), window: window)
        }
        let quotaUsed = try await used(CgroupLimits(cpus: quota))
        let quotaControlUsed = try await used(CgroupLimits())
        return CgroupEvidence.Prioritise(
            cpu: cpu, windowSeconds: window, weights: weights, written: written, shares: shares, controlShares: control,
            quota: quota, quotaUsed: quotaUsed, quotaControlUsed: quotaControlUsed)
    }

    static func account(_ context: CheckContext) async throws -> CgroupEvidence.Account {
        let (outcome, stats) = try await contained(try context.container(), InstanceRequest(.agent(["cpu", "--seconds", "1"]), timeout: 60))
        guard let agent = AgentLine.doneFields(outcome.output)["cpu_ns"].flatMap(Double.init) else {
            throw LabError(.failed, "the agent reported no CPU time of its own (cpu_ns on DONE)")
        }
        guard let group = stats?.cpuUsageNs else { throw LabError(.failed, "the container's cgroup accounted no CPU time") }
        // The control: as long, idle.
        let (_, idle) = try await contained(try context.container(), InstanceRequest(.agent(["idle", "--idle.seconds", "1"]), timeout: 60))
        guard let idleGroup = idle?.cpuUsageNs else { throw LabError(.failed, "the idle container's cgroup accounted no CPU time") }
        return CgroupEvidence.Account(cgroupMs: Double(group) / 1e6, agentMs: agent / 1e6,
                                      instrument: context.layout.mode == .v2 ? "cpu.stat usage_usec" : "cpuacct.usage",
                                      idleCgroupMs: Double(idleGroup) / 1e6)
    }

    static func freeze(_ context: CheckContext) async throws -> CgroupEvidence.Freeze {
        let hold = 0.5
        let counts = Carried<CgroupEvidence.Freeze?>(nil)
        _ = try await InstanceRun.run(
            try context.container(), context.shell("i=0; while :; do i=$((i+1)); echo $i >> /tmp/counter; done", timeout: 30)
        ) { instance in
            let container = try Probed(instance, for: "the cgroup check")
            let path = "/proc/\(container.pid)/root/tmp/counter"
            for _ in 0..<500 where lastCount(path) <= 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            try await Task.sleep(nanoseconds: 200_000_000)
            let before = lastCount(path)
            var start = MonotonicClock.now()
            try container.freeze()
            let freezeMs = Double(MonotonicClock.now() - start) / 1e6
            let frozen = lastCount(path)
            // Memory is read once frozen and again after the hold, as the
            // freeze demo reads it, never before the freeze: a shell still
            // running between a read and the freeze may charge or free a
            // page (seen: 744 KiB before, 740 frozen), which says nothing
            // about the freeze.
            let memoryBefore = container.stats().memoryCurrentBytes
            try await Task.sleep(nanoseconds: UInt64(hold * 1e9))
            let afterHold = lastCount(path)
            let memoryFrozen = container.stats().memoryCurrentBytes
            start = MonotonicClock.now()
            try container.thaw()
            let thawMs = Double(MonotonicClock.now() - start) / 1e6
            try await Task.sleep(nanoseconds: 200_000_000)
            counts.value = CgroupEvidence.Freeze(
                countBefore: before, countFrozen: frozen, countAfterHold: afterHold, holdSeconds: hold, countAfterThaw: lastCount(path),
                freezeMs: freezeMs, thawMs: thawMs, memoryBeforeKiB: memoryBefore.map { Int($0 / 1024) },
                memoryFrozenKiB: memoryFrozen.map { Int($0 / 1024) })
        }
        guard let result = counts.value else { throw LabError(.failed, "the counting container did not start counting") }
        return result
    }
}

/// The limits' experiment, one set of figures for the check and the demo:
/// twice the memory limit allocated, and a bounded fork bomb of three times
/// the pids limit.
enum LimitProbe {
    static let limitMiB = 32
    static let allocationMiB = 64
    static let pidsLimit = 16
    static let children = 48
    /// A shell that starts `children` sleeping children: each is a process the pids limit counts.
    static let bomb = "i=0; while [ $i -lt \(children) ]; do sleep 2 & i=$((i+1)); done 2>/dev/null; wait"
}
