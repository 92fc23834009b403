import Foundation
import LabModel
import LabStats
import Testing

@testable import LabReport

/// Synthetic runs: every verdict of every claim, each shown flipping when
/// the data flips.
struct Synthetic {
    var trials: [TrialRecord] = []
    var host = HostInfo(kernelRelease: "6.18.44-host", architecture: "x86_64", cpuModel: "test", cpuCount: 2, memoryTotalKiB: 1 << 24,
                        euid: 0, bootID: "host-boot", kernelVersion: "#1 SMP")
    var isolation: IsolationEvidence?
    var cgroups: CgroupEvidence?
    var cpuBudget: [Int]?
    var density: [DensityRun]?
    var neighbours: [NeighbourRun]?

    /// One counted trial per value; `fail` more that failed.
    mutating func add(_ backend: BackendKind, _ workload: String, _ metric: String, _ values: [Double], unit: String = "ms",
                      accelerator: Accelerator? = nil, ready: [String: String]? = nil, fail: Int = 0) {
        let fields: [String: String] = ready ?? ["boot_id": backend == .vm ? "guest-boot" : "host-boot",
                                                 "kernel": backend == .vm ? "6.1.0-guest" : host.kernelRelease]
        let used: Accelerator? = accelerator ?? (backend == .vm ? .tcg : nil)
        for value in values {
            let sample = Sample(workload: workload, metric: metric, value: value, unit: unit)
            let trial = TrialRecord(index: trials.count, round: trials.count, backend: backend, warmup: false,
                                    accelerator: used, timeline: [], samples: [sample],
                                    agentErrors: [], ready: fields, memorySource: nil, error: nil, consoleTail: nil)
            trials.append(trial)
        }
        for _ in 0..<fail {
            trials.append(TrialRecord(index: trials.count, round: trials.count, backend: backend, warmup: false, accelerator: nil, timeline: [],
                                      samples: [], agentErrors: [], ready: nil, memorySource: nil, error: "boot timeout", consoleTail: nil))
        }
    }

    var results: RunResults {
        let footprint = ImageFootprint(rootfsBytes: 1, rootfsDiskBytes: 1, initramfsBytes: 1, initramfsFile: "i")
        let kernel = GuestKernel(path: "/k", version: "6.1.0-guest", sizeBytes: 7 << 20)
        let facts = HostFacts(cgroupMode: cgroups?.mode)
        let environment = RunEnvironment(
            labVersion: "test", gitCommit: "x", startedAt: "", finishedAt: nil, host: host, hostFacts: facts,
            imageName: "busybox", imageDigest: "sha256:x", imageFootprint: footprint,
            guestKernel: kernel, accelerator: nil, scenarioFile: "s.yaml",
            scenarioDigest: "", scenarioText: "", seed: 1, cpuBudget: cpuBudget, volume: nil)
        let backends = Array(Set(trials.map(\.backend))).sorted()
        var results = RunResults(schemaVersion: RunResults.currentSchemaVersion, complete: true, scenarioName: "s", scenarioDescription: "",
                                 backends: backends, repetitions: 5, warmup: 0, environment: environment, trials: trials, isolation: isolation,
                                 cgroups: cgroups, checkErrors: [], summary: ResultsSummary(metrics: [], ratios: []))
        results.density = density
        results.neighbours = neighbours
        return results
    }

    func claim(_ id: String) -> Claim {
        Claims.evaluate(results).first { $0.id == id }!
    }
}

/// `count` values spread ±`spread` around `center`.
func around(_ center: Double, spread: Double = 0.02, count: Int = 8) -> [Double] {
    let steps = Double(max(count - 1, 1))
    return (0..<count).map { (index: Int) -> Double in
        let position: Double = Double(index) / steps * 2 - 1
        return center * (1 + spread * position)
    }
}

@Suite("claims: start-up")
struct StartupClaimTests {
    @Test func tcgSecondsAgainstMillisecondsIsOrderWithoutScale() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        run.add(.vm, "startup", "ready", around(4500))
        let claim = run.claim("startup")
        #expect(claim.verdict == .partlyHolds)
        #expect(claim.evidence.contains("the order holds") && claim.evidence.contains("not minutes") && claim.evidence.contains("TCG"))
    }

    @Test func aKVMHostReadyIn300msIsStillOrderWithoutScale() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        run.add(.vm, "startup", "ready", around(300), accelerator: .kvm)
        let claim = run.claim("startup")
        #expect(claim.verdict == .partlyHolds)
        #expect(claim.measured.contains("under KVM") && claim.evidence.contains("under KVM") && !claim.evidence.contains("TCG"))
    }

    @Test func aWholeOSInMinutesMakesItHold() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(400))
        run.add(.vm, "startup", "ready", around(95_000))
        #expect(run.claim("startup").verdict == .holds)
    }

    /// The scale is read from the VM median's interval: a median past a
    /// minute whose interval still holds one minute decides nothing.
    @Test func aMedianJustPastAMinuteWithAWideIntervalIsInconclusive() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(400))
        run.add(.vm, "startup", "ready", around(61_000, spread: 0.3))
        let claim = run.claim("startup")
        #expect(claim.verdict == .inconclusive && claim.evidence.contains("the scale is not established"), "\(claim)")
        var tight = Synthetic()
        tight.add(.container, "startup", "ready", around(400))
        tight.add(.vm, "startup", "ready", around(61_000, spread: 0.01))
        #expect(tight.claim("startup").verdict == .holds)
        // Both in minutes: the order, not the contrast the notes draw.
        var slow = Synthetic()
        slow.add(.container, "startup", "ready", around(70_000, spread: 0.01))
        slow.add(.vm, "startup", "ready", around(300_000, spread: 0.01))
        let both = slow.claim("startup")
        #expect(both.verdict == .partlyHolds && both.evidence.contains("the container minutes too"), "\(both)")
    }

    /// One trial each resamples to itself: no interval, no verdict.
    @Test func oneTrialEachGivesNoIntervalAndNoVerdict() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", [40])
        run.add(.vm, "startup", "ready", [5400])
        let claim = run.claim("startup")
        #expect(claim.verdict == .inconclusive && claim.evidence.contains("too few trials"), "\(claim)")
        var two = Synthetic()
        two.add(.container, "startup", "ready", around(40, count: 2))
        two.add(.vm, "startup", "ready", around(5400, count: 2))
        #expect(two.claim("startup").verdict == .partlyHolds)
    }

    /// The notes' own case, its own row: a whole OS both ways.
    @Test func theWholeOSRowFollowsTheWholeOSBackendsAndFlips() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        run.add(.vm, "startup", "ready", around(4500))
        #expect(run.claim("startup.full-os").verdict == .notMeasured)
        #expect(run.claim("startup.full-os").evidence.contains("scenarios/full-os.yaml"))
        var tcg = run
        tcg.add(.systemContainer, "startup", "ready", around(300))
        tcg.add(.osVM, "startup", "ready", around(29_000), accelerator: .tcg)
        let seconds = tcg.claim("startup.full-os")
        #expect(seconds.verdict == .partlyHolds && seconds.measured.contains("whole OS") && seconds.evidence.contains("TCG"), "\(seconds)")
        // The one-process row is unchanged by the whole-OS trials.
        #expect(tcg.claim("startup").verdict == .partlyHolds)
        var minutes = run
        minutes.add(.systemContainer, "startup", "ready", around(300))
        minutes.add(.osVM, "startup", "ready", around(95_000), accelerator: .tcg)
        #expect(minutes.claim("startup.full-os").verdict == .holds)
    }

    @Test func aVMReadyFirstMakesItFail() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(900))
        run.add(.vm, "startup", "ready", around(300), accelerator: .kvm)
        #expect(run.claim("startup").verdict == .doesNotHold)
    }

    @Test func noisyOverlappingTimesAreInconclusive() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(100, spread: 0.6))
        run.add(.vm, "startup", "ready", around(105, spread: 0.6))
        #expect(run.claim("startup").verdict == .inconclusive)
    }

    @Test func failedTrialsAreCountedAndShown() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        run.add(.vm, "startup", "ready", around(4500, count: 4), fail: 1)
        let claim = run.claim("startup")
        #expect(claim.evidence.contains("4 of 5 VM trials (1 failed)"))
        #expect(claim.evidence.contains("8 container trials"))
    }

    @Test func missingBackendsAreNotMeasured() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        #expect(run.claim("startup").verdict == .notMeasured)
    }
}

@Suite("claims: kernel, memory, disk, hardware")
struct ResourceClaimTests {
    @Test func bootIDDecidesEvenWhenTheReleasesAreEqual() {
        var run = Synthetic()
        run.host.kernelRelease = "6.1.0-guest"
        run.add(.container, "startup", "ready", [1], ready: ["boot_id": "host-boot", "kernel": "6.1.0-guest"])
        run.add(.vm, "startup", "ready", [1], ready: ["boot_id": "guest-boot", "kernel": "6.1.0-guest"])
        let claim = run.claim("kernel")
        #expect(claim.verdict == .holds)
        #expect(claim.evidence.contains("could not tell them apart"))
    }

    @Test func aContainerWithAnotherBootIDFlipsIt() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", [1], ready: ["boot_id": "other", "kernel": "x"])
        run.add(.vm, "startup", "ready", [1], ready: ["boot_id": "host-boot", "kernel": "x"])
        #expect(run.claim("kernel").verdict == .doesNotHold)
    }

    @Test func memoryByOneInstrumentAndItFlips() {
        var light = Synthetic()
        light.add(.container, "resources", "pss", around(7), unit: "MiB")
        light.add(.vm, "resources", "pss", around(250), unit: "MiB")
        #expect(light.claim("memory").verdict == .holds)
        #expect(light.claim("memory").evidence.contains("smaps_rollup"))
        var heavy = Synthetic()
        heavy.add(.container, "resources", "pss", around(300), unit: "MiB")
        heavy.add(.vm, "resources", "pss", around(250), unit: "MiB")
        #expect(heavy.claim("memory").verdict == .doesNotHold)
        var noisy = Synthetic()
        noisy.add(.container, "resources", "pss", around(100, spread: 0.5), unit: "MiB")
        noisy.add(.vm, "resources", "pss", around(102, spread: 0.5), unit: "MiB")
        #expect(noisy.claim("memory").verdict == .inconclusive)
    }

    @Test func diskSaysWhatIsStructuralAndFlips() {
        var run = Synthetic()
        run.add(.container, "resources", "disk_image", [13], unit: "MiB")
        run.add(.container, "resources", "disk_instance", [12], unit: "KiB")
        run.add(.vm, "resources", "disk_image", [27], unit: "MiB")
        run.add(.vm, "resources", "disk_instance", [8], unit: "KiB")
        let claim = run.claim("disk")
        #expect(claim.verdict == .holds)
        #expect(claim.evidence.contains("structural") && claim.evidence.contains("tmpfs"))
        var withVolume = run.results
        withVolume.environment.volume = "host disk: ext4"
        let volumeClaim = Claims.evaluate(withVolume).first { $0.id == "disk" }!
        #expect(volumeClaim.evidence.contains("had a volume (host disk: ext4)") && !volumeClaim.evidence.contains("tmpfs"))
        var flipped = Synthetic()
        flipped.add(.container, "resources", "disk_image", [40], unit: "MiB")
        flipped.add(.container, "resources", "disk_instance", [900], unit: "KiB")
        flipped.add(.vm, "resources", "disk_image", [27], unit: "MiB")
        flipped.add(.vm, "resources", "disk_instance", [8], unit: "KiB")
        #expect(flipped.claim("disk").verdict == .doesNotHold)
    }

    @Test func hardwarePerMetricWithIntervals() {
        var run = Synthetic()
        run.cpuBudget = [1]
        run.add(.container, "cpu", "sieve", around(300), unit: "sieves/s")
        run.add(.vm, "cpu", "sieve", around(60), unit: "sieves/s")
        run.add(.container, "syscall", "getppid", around(100), unit: "ns/call")
        run.add(.vm, "syscall", "getppid", around(450), unit: "ns/call")
        let claim = run.claim("hardware")
        #expect(claim.verdict == .holds)
        #expect(claim.evidence.contains("pinned to host CPU(s) 1"))
        var against = Synthetic()
        against.add(.container, "cpu", "sieve", around(60), unit: "sieves/s")
        against.add(.vm, "cpu", "sieve", around(300), unit: "sieves/s")
        #expect(against.claim("hardware").verdict == .doesNotHold)
        var noisy = Synthetic()
        noisy.add(.container, "cpu", "sieve", around(300, spread: 0.4), unit: "sieves/s")
        noisy.add(.vm, "cpu", "sieve", around(290, spread: 0.4), unit: "sieves/s")
        #expect(noisy.claim("hardware").verdict == .inconclusive)
        var mixed = run
        mixed.add(.container, "net", "rtt", around(10, spread: 0.5), unit: "us")
        mixed.add(.vm, "net", "rtt", around(10.5, spread: 0.5), unit: "us")
        #expect(mixed.claim("hardware").verdict == .partlyHolds)
        #expect(Synthetic().claim("hardware").verdict == .notMeasured)
    }
}

@Suite("claims: namespaces and cgroups")
struct CheckClaimTests {
    func probe(_ namespace: String, isolated: Bool = true, control: Bool = true, question: String = "q") -> IsolationProbe {
        IsolationProbe(namespace: namespace, question: question, command: "c", inside: "i", control: "c", host: "h",
                       isolated: isolated, controlSawHost: control)
    }

    @Test func aNamespaceHoldsOnlyWithAControlThatSeesTheHost() {
        var run = Synthetic()
        run.isolation = IsolationEvidence(probes: [probe("pid"), probe("ipc", isolated: false), probe("mnt", control: false)])
        #expect(run.claim("namespace.pid").verdict == .holds)
        #expect(run.claim("namespace.ipc").verdict == .doesNotHold)
        #expect(run.claim("namespace.mnt").verdict == .inconclusive)
        #expect(run.claim("namespace.net").verdict == .notMeasured)
    }

    @Test func utsIsolatesTheHostnameButNotTheKernelVersion() {
        var run = Synthetic()
        run.isolation = IsolationEvidence(probes: [
            probe("uts", question: "the hostname"),
            probe("uts", isolated: false, question: "the kernel release (uname -r)"),
        ])
        let claim = run.claim("namespace.uts")
        #expect(claim.verdict == .partlyHolds)
        #expect(claim.evidence.contains("Not isolated (the container sees the host's): the kernel release"))
    }

    func cgroups(mode: String = "v1") -> CgroupEvidence {
        CgroupEvidence(
            mode: mode,
            limit: .init(memoryLimitMiB: 32, allocationMiB: 64, limitedExit: "killed by the memory limit (32 MiB)", oomKills: 1, peakMiB: 32,
                         controlExit: "exited with 0", pidsLimit: 16, pidsPeak: 16, forksRefused: 3, pidsControlPeak: 49),
            prioritise: .init(cpu: 1, windowSeconds: 2, weights: [100, 300], written: ["cpu.shares=1024", "cpu.shares=3072"],
                              shares: [0.26, 0.74], controlShares: [0.49, 0.51], quota: 0.2, quotaUsed: 0.21, quotaControlUsed: 0.97,
                              tolerance: 0.08),
            account: .init(cgroupMs: 1002, agentMs: 999, instrument: "cpuacct.usage", tolerance: 0.1, idleCgroupMs: 3),
            freeze: .init(countBefore: 100, countFrozen: 120, countAfterHold: 120, holdSeconds: 0.5, countAfterThaw: 500, freezeMs: 0.3,
                          thawMs: 0.5, memoryBeforeKiB: 400, memoryFrozenKiB: 400))
    }

    @Test func eachCgroupClaimHoldsOnGoodEvidence() {
        var run = Synthetic()
        run.cgroups = cgroups()
        for id in ["cgroup.limit", "cgroup.prioritise", "cgroup.account", "cgroup.freeze"] {
            #expect(run.claim(id).verdict == .holds, "\(id): \(run.claim(id).measured)")
        }
    }

    @Test func aV2OnlyHostNamesItsFiles() {
        var run = Synthetic()
        run.cgroups = cgroups(mode: "v2")
        #expect(run.claim("cgroup.limit").evidence.contains("memory.events oom_kill"))
        #expect(run.claim("cgroup.freeze").evidence.contains("cgroup.freeze"))
    }

    @Test func eachCgroupClaimFlips() {
        var evidence = cgroups()
        evidence.limit?.limitedExit = "exited with 0"
        evidence.limit?.oomKills = 0
        evidence.limit?.forksRefused = 0
        evidence.limit?.pidsPeak = 48
        evidence.prioritise?.shares = [0.5, 0.5]
        evidence.prioritise?.quotaUsed = 0.9
        evidence.account?.cgroupMs = 400
        evidence.freeze?.countAfterHold = 180
        var run = Synthetic()
        run.cgroups = evidence
        for id in ["cgroup.limit", "cgroup.prioritise", "cgroup.account", "cgroup.freeze"] {
            #expect(run.claim(id).verdict == .doesNotHold, "\(id)")
        }
    }

    @Test func aFailedControlMakesThemInconclusive() {
        var evidence = cgroups()
        evidence.limit?.controlExit = "killed by signal 9 (Killed)"
        evidence.prioritise?.controlShares = [0.8, 0.2]
        evidence.prioritise?.quotaControlUsed = 0.25
        evidence.freeze?.countBefore = 0
        var run = Synthetic()
        run.cgroups = evidence
        for id in ["cgroup.limit", "cgroup.prioritise", "cgroup.freeze"] {
            #expect(run.claim(id).verdict == .inconclusive, "\(id)")
        }
        // Each control alone: a fork bomb that never passes the limit without it,
        // an idle group that reads as busy as the working one.
        var pids = cgroups()
        pids.limit?.pidsControlPeak = 12
        var idle = cgroups()
        idle.account?.idleCgroupMs = 900
        var alone = Synthetic()
        alone.cgroups = pids
        #expect(alone.claim("cgroup.limit").verdict == .inconclusive && alone.claim("cgroup.limit").evidence.contains("the limit proved nothing"))
        alone.cgroups = idle
        #expect(alone.claim("cgroup.account").verdict == .inconclusive && alone.claim("cgroup.account").evidence.contains("it did not"))
        // Too little work to compare: 40 ms of the agent's own.
        var short = cgroups()
        short.account = .init(cgroupMs: 41, agentMs: 40, instrument: "cpuacct.usage", tolerance: 0.1, idleCgroupMs: 1)
        alone.cgroups = short
        #expect(alone.claim("cgroup.account").verdict == .inconclusive && alone.claim("cgroup.account").evidence.contains("too little to compare"))
    }

    @Test func theWeightsCheckedOnV1AreTheSameConversionForBothSiblings() {
        let p = cgroups().prioritise!
        #expect(p.expected == [0.25, 0.75])
        #expect(p.written == ["cpu.shares=1024", "cpu.shares=3072"])
    }
}

@Suite("one source of truth")
struct SourceOfTruthTests {
    @Test func aSummaryEditedByHandIsRecomputedFromTheSamples() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        run.add(.vm, "startup", "ready", around(4500))
        var results = run.results
        results.summary = RunResults.summarize(results.trials, backends: results.backends, seed: 1)
        #expect(results.summaryMatchesTrials)
        results.summary.metrics[0].summary.median = 99_999
        #expect(!results.summaryMatchesTrials)
        #expect(HTMLReport.render(results).contains("Container in 15.0 ms"))
        #expect(!HTMLReport.render(results).contains("99999"))
    }
}

@Suite("claims: the escape suite")
struct EscapeClaimTests {
    func probe(_ name: String, outside: Int32, inside: Int32, pastPermission: Bool = false) -> EscapeProbe {
        EscapeProbe(name: name, tries: name, outside: outside, outsideText: "\(outside)", inside: inside, insideText: "\(inside)",
                    pastPermissionCounts: pastPermission)
    }

    @Test func aRefusalCountsOnlyWhereTheHostAllowsIt() {
        #expect(probe("keyctl", outside: 0, inside: 1).status == .refused)
        #expect(probe("keyctl", outside: 0, inside: 0).status == .escaped)
        #expect(probe("read_kcore", outside: 2, inside: 2).status == .inconclusive)
        // Past the permission check: EINVAL on the host is allowed, EPERM inside refused.
        #expect(probe("bpf", outside: 22, inside: 1, pastPermission: true).status == .refused)
        #expect(probe("finit_module", outside: 38, inside: 1, pastPermission: true).status == .inconclusive)
    }

    @Test func theRowHoldsFailsOrIsInconclusiveFromTheProbes() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", [1])
        var results = run.results
        results.escape = EscapeEvidence(probes: [probe("keyctl", outside: 0, inside: 1), probe("read_kcore", outside: 2, inside: 2)],
                                        seccomp: "default", devices: "d")
        var claim = Claims.evaluate(results).first { $0.id == "escape" }!
        #expect(claim.verdict == .holds && claim.measured.contains("1 inconclusive"))
        results.escape?.probes.append(probe("userns_mount", outside: 0, inside: 0))
        claim = Claims.evaluate(results).first { $0.id == "escape" }!
        #expect(claim.verdict == .doesNotHold && claim.measured.contains("ESCAPED: userns_mount"))
        results.escape = EscapeEvidence(probes: [probe("read_kcore", outside: 2, inside: 2)], seccomp: "default", devices: "d")
        #expect(Claims.evaluate(results).first { $0.id == "escape" }!.verdict == .inconclusive)
        // A probe without a result inside (its agent ended early) leaves the suite unfinished: no "holds".
        results.escape = EscapeEvidence(probes: [probe("keyctl", outside: 0, inside: 1), probe("bpf", outside: 0, inside: -1)], seccomp: "default", devices: "d")
        #expect(results.escape!.probes[1].status == .notRun)
        claim = Claims.evaluate(results).first { $0.id == "escape" }!
        #expect(claim.verdict == .inconclusive && claim.measured.contains("1 without a result") && claim.evidence.contains("keyctl, bpf"), "\(claim)")
        results.escape!.probes[1].inside = 1
        #expect(Claims.evaluate(results).first { $0.id == "escape" }!.verdict == .holds)
    }
}

@Suite("claims: density and neighbours")
struct DensityClaimTests {
    func ramp(_ backend: BackendKind, pss: Double, upTo n: Int = 8) -> DensityRun {
        let steps = DensitySettings.countsUpTo(n).map { count in
            DensityRun.Step(n: count, memAvailableDropPerInstanceMiB: pss * 0.9, pssPerInstanceMiB: pss * (1 + 0.01 * Double(count % 3)),
                            idleCPUPerInstanceMsPerS: 1, creationRatePerS: 10, memAvailableMiB: 20_000)
        }
        return DensityRun(backend: backend, startLatencies: [], steps: steps, stoppedBecause: "reached max_instances", complete: true,
                          ksm: nil, tbCacheMiB: nil, memTotalMiB: 24_000)
    }

    @Test func denserContainersHoldAndTheVerdictFollowsThePSS() {
        var run = Synthetic()
        #expect(run.claim("density").verdict == .notMeasured)
        run.density = [ramp(.container, pss: 5), ramp(.vm, pss: 250)]
        let claim = run.claim("density")
        #expect(claim.verdict == .holds && claim.measured.contains("8 containers, 8 VMs"), "\(claim)")
        #expect(claim.evidence.contains("at the same N (1, 2, 4, 8)"), "\(claim)")
        run.density = [ramp(.container, pss: 300), ramp(.vm, pss: 250)]
        #expect(run.claim("density").verdict == .partlyHolds)
        // Ramps of different lengths are compared where both went: the
        // container's per-instance PSS at N = 16 is not set against a VM's at 1.
        var falling = ramp(.container, pss: 5, upTo: 16)
        for index in falling.steps.indices { falling.steps[index].pssPerInstanceMiB = 400 / Double(falling.steps[index].n) }
        run.density = [falling, ramp(.vm, pss: 250, upTo: 2)]
        let unequal = run.claim("density")
        #expect(unequal.evidence.contains("at the same N (1, 2)") && unequal.verdict == .inconclusive, "\(unequal)")
        run.density = [ramp(.container, pss: 5, upTo: 1), ramp(.vm, pss: 250, upTo: 1)]
        #expect(run.claim("density").verdict == .doesNotHold)
        // Told to stop at one: nothing was asked about "many".
        var capped = ramp(.vm, pss: 250, upTo: 1)
        capped.maxInstances = 1
        run.density = [ramp(.container, pss: 5, upTo: 1), capped]
        #expect(run.claim("density").verdict == .notMeasured && run.claim("density").evidence.contains("configured to stop at one"))
    }

    func neighbour(unlimited: Double, limited: Double) -> NeighbourRun {
        let alone = around(100, count: 5)
        return NeighbourRun(backend: .container, metrics: [
            NeighbourRun.Metric(workload: "cpu", metric: "sieve", unit: "sieves/s", alone: alone,
                                unlimited: around(100 * unlimited, count: 5), limited: around(100 * limited, count: 5)),
        ], limits: "cpus 0.5", neighbour: "two busy processes", errors: [])
    }

    @Test func theNeighboursRowComesOutEachWay() {
        var run = Synthetic()
        #expect(run.claim("neighbours").verdict == .notMeasured)
        run.neighbours = [neighbour(unlimited: 1.0, limited: 1.0)]
        #expect(run.claim("neighbours").verdict == .holds)
        run.neighbours = [neighbour(unlimited: 0.6, limited: 0.98)]
        let partly = run.claim("neighbours")
        #expect(partly.verdict == .partlyHolds && partly.evidence.contains("cgroups"), "\(partly)")
        run.neighbours = [neighbour(unlimited: 0.6, limited: 0.7)]
        #expect(run.claim("neighbours").verdict == .doesNotHold)
        // The control: an undisturbed victim beside an idle neighbour proves nothing.
        var idle = neighbour(unlimited: 1.0, limited: 1.0)
        idle.neighbourCPUs = ["unlimited": around(0.05, count: 5), "limited": around(0.05, count: 5)]
        run.neighbours = [idle]
        let claim = run.claim("neighbours")
        #expect(claim.verdict == .inconclusive && claim.evidence.contains("not busy enough"), "\(claim)")
        idle.neighbourCPUs = ["unlimited": around(1.9, count: 5), "limited": around(0.5, count: 5)]
        run.neighbours = [idle]
        #expect(run.claim("neighbours").verdict == .holds && run.claim("neighbours").evidence.contains("1.90 CPUs busy"))
        // A limited neighbour that never ran proves nothing about the limits.
        var dead = neighbour(unlimited: 0.6, limited: 0.98)
        dead.neighbourCPUs = ["unlimited": around(0.5, count: 5), "limited": around(0.001, count: 5)]
        run.neighbours = [dead]
        #expect(run.claim("neighbours").verdict == .inconclusive && run.claim("neighbours").evidence.contains("hardly ran"))
        dead.neighbourCPUs?["limited"] = around(0.08, count: 5)
        run.neighbours = [dead]
        #expect(run.claim("neighbours").verdict == .partlyHolds)
    }
}
