import Foundation
import LabModel
import LabStats
import LabTestSupport
import Testing

@testable import LabAnalysis

@Suite("claims: start-up")
struct StartupClaimTests {
    @Test func tcgSecondsAgainstMillisecondsIsOrderWithoutScale() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        run.add(.vm, "startup", "ready", around(4500))
        let claim = run.claim("startup")
        #expect(claim.verdict == .partlyHoldsUnderEmulation)
        #expect(claim.evidence.contains("the order holds") && claim.evidence.contains("not minutes") && claim.evidence.contains("TCG"))
        #expect(claim.verdictText == "partly holds under emulation (TCG)")
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
        #expect(run.claim("startup").verdict == .holdsUnderEmulation)
        // The same samples from KVM: the plain verdict, counted apart from emulation's.
        var kvm = Synthetic()
        kvm.add(.container, "startup", "ready", around(400))
        kvm.add(.vm, "startup", "ready", around(95_000), accelerator: .kvm)
        #expect(kvm.claim("startup").verdict == .holds)
    }

    /// The scale is read from one-sided exact bounds of each median: a
    /// median past a minute whose bound still holds one minute decides nothing.
    @Test func aMedianJustPastAMinuteWithAWideIntervalIsInconclusive() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(400))
        run.add(.vm, "startup", "ready", around(61_000, spread: 0.3))
        let claim = run.claim("startup")
        #expect(claim.verdict == .inconclusive && claim.evidence.contains("the scale is not established"), "\(claim)")
        #expect(claim.verdictText.hasPrefix("inconclusive: the scale is not established"))
        var tight = Synthetic()
        tight.add(.container, "startup", "ready", around(400))
        tight.add(.vm, "startup", "ready", around(61_000, spread: 0.01))
        #expect(tight.claim("startup").verdict == .holdsUnderEmulation)
        // Both in minutes: the order, not the contrast the notes draw.
        var slow = Synthetic()
        slow.add(.container, "startup", "ready", around(70_000, spread: 0.01))
        slow.add(.vm, "startup", "ready", around(300_000, spread: 0.01))
        let both = slow.claim("startup")
        #expect(both.verdict == .partlyHoldsUnderEmulation && both.evidence.contains("the container minutes too"), "\(both)")
    }

    /// Below four trials a side no exact interval reaches 95 %: no verdict,
    /// however far apart the groups (two against two reach 66.7 % at best).
    @Test func tooFewTrialsGiveNoVerdictAndFourGiveOne() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", [40])
        run.add(.vm, "startup", "ready", [5400])
        let claim = run.claim("startup")
        #expect(claim.verdict == .inconclusive && claim.verdictText == "inconclusive: too few trials (n = 1 and 1; needs 4 each)", "\(claim)")
        var two = Synthetic()
        two.add(.container, "startup", "ready", around(40, count: 2))
        two.add(.vm, "startup", "ready", around(5400, count: 2))
        #expect(two.claim("startup").verdictText == "inconclusive: too few trials (n = 2 and 2; needs 4 each)")
        var three = Synthetic()
        three.add(.container, "startup", "ready", around(40, count: 3))
        three.add(.vm, "startup", "ready", around(5400, count: 3))
        #expect(three.claim("startup").verdict == .inconclusive)
        // Four a side give the order; the scale needs five for a median's bound.
        var four = Synthetic()
        four.add(.container, "startup", "ready", around(40, count: 4))
        four.add(.vm, "startup", "ready", around(5400, count: 4))
        let fourClaim = four.claim("startup")
        #expect(fourClaim.verdictText == "inconclusive: too few trials for the scale (n = 4 and 4; a median's bound needs 5)", "\(fourClaim)")
        #expect(fourClaim.evidence.contains("the order holds"))
        var five = Synthetic()
        five.add(.container, "startup", "ready", around(40, count: 5))
        five.add(.vm, "startup", "ready", around(5400, count: 5))
        #expect(five.claim("startup").verdict == .partlyHoldsUnderEmulation)
        #expect(five.claim("startup").evidence.contains("96.8 % CI"))
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
        #expect(seconds.verdict == .partlyHoldsUnderEmulation && seconds.measured.contains("whole OS") && seconds.evidence.contains("TCG"), "\(seconds)")
        // The one-process row is unchanged by the whole-OS trials.
        #expect(tcg.claim("startup").verdict == .partlyHoldsUnderEmulation)
        var minutes = run
        minutes.add(.systemContainer, "startup", "ready", around(300))
        minutes.add(.osVM, "startup", "ready", around(95_000), accelerator: .tcg)
        #expect(minutes.claim("startup.full-os").verdict == .holdsUnderEmulation)
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
        run.add(.vm, "startup", "ready", around(105, spread: 0.6), accelerator: .kvm)
        #expect(run.claim("startup").verdictText == "inconclusive: the interval includes 1")
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
        // 12 KiB is more than 8 KiB: no margin lets it pass (the old rule's
        // `vmOwn * 1.1 + 8` did), so only the image side holds.
        #expect(claim.verdict == .partlyHolds, "\(claim)")
        #expect(claim.evidence.contains("structural") && claim.evidence.contains("tmpfs") && claim.evidence.contains("no margin"))
        var equal = Synthetic()
        equal.add(.container, "resources", "disk_image", [13], unit: "MiB")
        equal.add(.container, "resources", "disk_instance", [8], unit: "KiB")
        equal.add(.vm, "resources", "disk_image", [27], unit: "MiB")
        equal.add(.vm, "resources", "disk_instance", [8], unit: "KiB")
        #expect(equal.claim("disk").verdict == .holds)
        // The VM's image less its 7 MiB kernel is no larger than the
        // container's: the kernel alone makes the difference, by construction.
        var construction = equal
        construction.trials.removeAll()
        construction.add(.container, "resources", "disk_image", [21], unit: "MiB")
        construction.add(.container, "resources", "disk_instance", [8], unit: "KiB")
        construction.add(.vm, "resources", "disk_image", [27], unit: "MiB")
        construction.add(.vm, "resources", "disk_instance", [8], unit: "KiB")
        let built = construction.claim("disk")
        #expect(built.verdict == .byConstruction && built.evidence.contains("by construction"), "\(built)")
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
        run.add(.vm, "cpu", "sieve", around(60), unit: "sieves/s", accelerator: .kvm)
        run.add(.container, "syscall", "getppid", around(100), unit: "ns/call")
        run.add(.vm, "syscall", "getppid", around(450), unit: "ns/call", accelerator: .kvm)
        let claim = run.claim("hardware")
        #expect(claim.verdict == .holds, "\(claim)")
        #expect(claim.evidence.contains("pinned to host CPU(s) 1") && claim.measured.contains("Holm-adjusted p"))
        var against = Synthetic()
        against.cpuBudget = [1]
        against.add(.container, "cpu", "sieve", around(60), unit: "sieves/s")
        against.add(.vm, "cpu", "sieve", around(300), unit: "sieves/s", accelerator: .kvm)
        #expect(against.claim("hardware").verdict == .doesNotHold)
        var noisy = Synthetic()
        noisy.cpuBudget = [1]
        noisy.add(.container, "cpu", "sieve", around(300, spread: 0.4), unit: "sieves/s")
        noisy.add(.vm, "cpu", "sieve", around(290, spread: 0.4), unit: "sieves/s", accelerator: .kvm)
        #expect(noisy.claim("hardware").verdict == .inconclusive)
        var mixed = run
        mixed.add(.container, "net", "rtt", around(10, spread: 0.5), unit: "us")
        mixed.add(.vm, "net", "rtt", around(10.5, spread: 0.5), unit: "us", accelerator: .kvm)
        #expect(mixed.claim("hardware").verdict == .partlyHolds)
        #expect(Synthetic().claim("hardware").verdict == .notMeasured)
        // Under TCG the same samples are emulation's answer, counted apart.
        var tcg = Synthetic()
        tcg.cpuBudget = [1]
        tcg.add(.container, "cpu", "sieve", around(300), unit: "sieves/s")
        tcg.add(.vm, "cpu", "sieve", around(60), unit: "sieves/s", accelerator: .tcg)
        #expect(tcg.claim("hardware").verdict == .holdsUnderEmulation)
    }

    /// Near-native is an equivalence with bare, stated in the evidence: a
    /// container within ±10 % of bare is inside the band, one at 0.7 × is not.
    @Test func nearNativeIsShownAgainstBareWithinABand() {
        var run = Synthetic()
        run.cpuBudget = [1]
        run.add(.bare, "cpu", "sieve", around(300, count: 6), unit: "sieves/s")
        run.add(.container, "cpu", "sieve", around(297, count: 6), unit: "sieves/s")
        run.add(.vm, "cpu", "sieve", around(60, count: 6), unit: "sieves/s", accelerator: .kvm)
        run.add(.bare, "syscall", "getppid", around(100, count: 6), unit: "ns/call")
        run.add(.container, "syscall", "getppid", around(143, count: 6), unit: "ns/call")
        run.add(.vm, "syscall", "getppid", around(450, count: 6), unit: "ns/call", accelerator: .kvm)
        let evidence = run.claim("hardware").evidence
        #expect(evidence.contains("inside for cpu.sieve") && evidence.contains("outside for syscall.getppid"), "\(evidence)")
    }

    /// Unequal budgets decide nothing: an unpinned container may use every
    /// host CPU, the guest its vCPUs only.
    @Test func anUnpinnedRunIsInconclusive() {
        var run = Synthetic()
        run.add(.container, "cpu", "sieve", around(300), unit: "sieves/s")
        run.add(.vm, "cpu", "sieve", around(60), unit: "sieves/s", accelerator: .kvm)
        #expect(run.claim("hardware").verdictText.hasPrefix("inconclusive: unequal budgets"))
        run.cpuBudget = [0]
        #expect(run.claim("hardware").verdict == .holds)
    }

    /// Seventeen metrics with no true difference: only the six declared
    /// ones are judged, with Holm over them; the others may scatter as
    /// they like without making the row fail.
    @Test func seventeenNullMetricsDoNotFailTheRow() {
        var run = Synthetic()
        run.cpuBudget = [1]
        var generator = SeededGenerator(seed: 3)
        let names = MetricKey.hardwarePrimary + (0..<11).map { MetricKey("extra", "m\($0)") }
        for key in names {
            let c = (0..<5).map { _ in 100 * Double.random(in: 0.8...1.2, using: &generator) }
            let v = (0..<5).map { _ in 100 * Double.random(in: 0.8...1.2, using: &generator) }
            run.add(.container, key.workload, key.metric, c, unit: "ops/s")
            run.add(.vm, key.workload, key.metric, v, unit: "ops/s", accelerator: .kvm)
        }
        // One extra metric far apart against the container: shown, not judged.
        run.add(.container, "extra", "apart", around(10, count: 5), unit: "ops/s")
        run.add(.vm, "extra", "apart", around(100, count: 5), unit: "ops/s", accelerator: .kvm)
        let claim = run.claim("hardware")
        #expect(claim.verdict == .inconclusive && claim.measured.contains("extra.apart") && claim.measured.contains("shown, not judged"), "\(claim)")
    }

    /// Five trials a side can pass Holm over six metrics (2/252 ≤ 0.05/6);
    /// four cannot (2/70 > 0.05/6), and the row says so.
    @Test func holmOverSixMetricsNeedsFiveTrialsASide() {
        func run(_ count: Int) -> Claim {
            var run = Synthetic()
            run.cpuBudget = [1]
            for key in MetricKey.hardwarePrimary {
                run.add(.container, key.workload, key.metric, around(200, count: count), unit: "ops/s")
                run.add(.vm, key.workload, key.metric, around(100, count: count), unit: "ops/s", accelerator: .kvm)
            }
            return run.claim("hardware")
        }
        #expect(run(5).verdict == .holds)
        #expect(run(4).verdictText == "inconclusive: too few trials for 6 metrics under Holm's correction (n = 4; needs 5 each)", "\(run(4))")
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

    func observed(_ namespace: String, _ rule: String, inside: [String: String], control: [String: String], host: [String: String],
                  question: String = "q") -> IsolationProbe {
        IsolationProbe(namespace: namespace, question: question, command: "c", inside: "i", control: "c", host: "h", rule: rule,
                       observed: .init(inside: inside, control: control, host: host))
    }

    /// Verdicts from the probes' raw answers, by the analysis's rules; an
    /// edited answer flips the row.
    @Test func namespaceRowsAreComputedFromRawObservations() {
        let host = ["pid1": "init", "count": "200"]
        var run = Synthetic()
        run.isolation = IsolationEvidence(probes: [
            observed("pid", "pid.tree", inside: ["pid1": "sh", "count": "3"], control: host, host: host),
            observed("ipc", "ipc.shm", inside: ["ids": "7"], control: ["ids": "5 9"], host: ["segment": "9"]),
            observed("mnt", "mnt.tmpfs", inside: ["seen": "0"], control: ["seen": "1"], host: ["mounted": "1"]),
            observed("uts", "uts.hostname", inside: ["value": "abc"], control: ["value": "vm"], host: ["value": "vm"]),
            observed("uts", "uts.release", inside: ["value": "6.1"], control: ["value": "6.1"], host: ["value": "6.1"], question: "the kernel release"),
            observed("net", "net.interfaces", inside: ["a": "isl0 lo", "b": "isl0 lo"], control: ["ifaces": "eth0 lo"], host: ["ifaces": "eth0 lo"]),
        ])
        #expect(run.claim("namespace.pid").verdict == .holds)
        #expect(run.claim("namespace.ipc").verdict == .holds)
        #expect(run.claim("namespace.mnt").verdict == .holds)
        #expect(run.claim("namespace.uts").verdict == .partlyHolds)
        #expect(run.claim("namespace.net").verdict == .holds && !run.claim("namespace.net").evidence.contains("as stored"))
        // The host's processes seen inside: not isolated.
        run.isolation!.probes[0].observed!.inside = host
        #expect(run.claim("namespace.pid").verdict == .doesNotHold)
        // A control that did not see the host's segment: inconclusive.
        run.isolation!.probes[1].observed!.control = ["ids": "5"]
        #expect(run.claim("namespace.ipc").verdictText == "inconclusive: the control did not see the host's object")
        // A stored judgement (older results) cannot override the observations.
        run.isolation!.probes[2].isolated = false
        #expect(run.claim("namespace.mnt").verdict == .holds)
    }

    /// Older results stored judgements, not observations: they still
    /// render, marked as taken as stored.
    @Test func storedJudgementsAreMarked() {
        var run = Synthetic()
        run.isolation = IsolationEvidence(probes: [probe("pid")])
        let claim = run.claim("namespace.pid")
        #expect(claim.verdict == .holds && claim.evidence.contains("taken as stored"))
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

    /// Results without a control prove nothing: inconclusive, never holds.
    @Test func aMissingControlIsInconclusive() {
        var run = Synthetic()
        var noBomb = cgroups()
        noBomb.limit?.pidsControlPeak = nil
        run.cgroups = noBomb
        #expect(run.claim("cgroup.limit").verdictText == "inconclusive: the control is missing: no run of the fork bomb without the limit")
        var noIdle = cgroups()
        noIdle.account?.idleCgroupMs = nil
        run.cgroups = noIdle
        #expect(run.claim("cgroup.account").verdictText == "inconclusive: the control is missing: no idle container was measured")
    }

    /// The rule's tolerance is the analysis's: a results file that carries
    /// a wider one (older results did) cannot widen it.
    @Test func aStoredToleranceIsIgnored() {
        var evidence = cgroups()
        evidence.prioritise?.shares = [0.4, 0.6]
        evidence.prioritise?.tolerance = 0.5
        evidence.account?.cgroupMs = 1500
        evidence.account?.tolerance = 0.9
        var run = Synthetic()
        run.cgroups = evidence
        #expect(run.claim("cgroup.prioritise").verdict == .partlyHolds)
        #expect(run.claim("cgroup.account").verdict == .doesNotHold)
    }

    @Test func theWeightsCheckedOnV1AreTheSameConversionForBothSiblings() {
        let p = cgroups().prioritise!
        #expect(p.expected == [0.25, 0.75])
        #expect(p.written == ["cpu.shares=1024", "cpu.shares=3072"])
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
    func ramp(_ backend: BackendKind, pss: Double, upTo n: Int = 8, maxInstances: Int? = nil, perInstance: Bool = true) -> DensityRun {
        Synthetic.ramp(backend, pss: pss, upTo: n, maxInstances: maxInstances, perInstance: perInstance)
    }

    @Test func denserContainersHoldAndTheVerdictFollowsWhatEachInstanceAdds() {
        var run = Synthetic()
        #expect(run.claim("density").verdict == .notMeasured)
        run.density = [ramp(.container, pss: 5), ramp(.vm, pss: 250)]
        let claim = run.claim("density")
        #expect(claim.verdict == .holds && claim.measured.contains("8 containers, 8 VMs"), "\(claim)")
        #expect(claim.evidence.contains("With 8 of each running") && claim.evidence.contains("accounting, not density"), "\(claim)")
        run.density = [ramp(.container, pss: 300), ramp(.vm, pss: 250)]
        #expect(run.claim("density").verdict == .partlyHolds)
        // Results written before each instance was recorded: no sample, no verdict.
        run.density = [ramp(.container, pss: 5, perInstance: false), ramp(.vm, pss: 250, perInstance: false)]
        #expect(run.claim("density").reason?.contains("no per-instance memory") == true)
        run.density = [ramp(.container, pss: 5, upTo: 1, maxInstances: 16), ramp(.vm, pss: 250, upTo: 1, maxInstances: 16)]
        #expect(run.claim("density").verdict == .doesNotHold)
        // Told to stop at one: nothing was asked about "many".
        run.density = [ramp(.container, pss: 5, upTo: 1), ramp(.vm, pss: 250, upTo: 1, maxInstances: 1)]
        #expect(run.claim("density").verdict == .notMeasured && run.claim("density").evidence.contains("configured to stop at one"))
    }

    /// A VM ramp that stopped early, for memory or time, is the evidence it
    /// is; a ramp told to stop there is not.
    @Test func aVMRampStoppedAtOneSupportsTheClaim() {
        var run = Synthetic()
        var vm = ramp(.vm, pss: 250, upTo: 1, maxInstances: 16)
        vm.stoppedBecause = "MemAvailable fell below 10 %"
        run.density = [ramp(.container, pss: 5, upTo: 16), vm]
        let early = run.claim("density")
        #expect(early.verdict == .holds && early.evidence.contains("Containers reached 16, VMs 1"), "\(early)")
        // Capped at 2 by the scenario: compared at N = 2, two instances a side, too few.
        run.density = [ramp(.container, pss: 5, upTo: 16), ramp(.vm, pss: 250, upTo: 2, maxInstances: 2)]
        #expect(run.claim("density").reason?.hasPrefix("too few trials (n = 2 and 2") == true, "\(run.claim("density"))")
    }

    func neighbour(unlimited: Double, limited: Double, count: Int = 5) -> NeighbourRun {
        Synthetic.neighbour(unlimited: unlimited, limited: limited, count: count)
    }

    @Test func theNeighboursRowComesOutEachWay() {
        var run = Synthetic()
        #expect(run.claim("neighbours").verdict == .notMeasured)
        run.neighbours = [neighbour(unlimited: 1.0, limited: 1.0)]
        let holds = run.claim("neighbours")
        #expect(holds.verdict == .holds && holds.evidence.contains("1.90 CPUs busy") && holds.evidence.contains("0.90–1.10"), "\(holds)")
        run.neighbours = [neighbour(unlimited: 0.6, limited: 0.98)]
        let partly = run.claim("neighbours")
        #expect(partly.verdict == .partlyHolds && partly.evidence.contains("cgroups"), "\(partly)")
        #expect(partly.evidence.contains("should keep at least 0.990"))
        run.neighbours = [neighbour(unlimited: 0.6, limited: 0.7)]
        #expect(run.claim("neighbours").verdict == .doesNotHold)
    }

    /// "Does not disturb" is shown, not assumed: a victim that kept 0.909 of
    /// its rate (the weights 100:10) is neither inside the ±10 % band nor
    /// shown below it, and decides nothing; at 0.99 it is inside.
    @Test func aVictimOnTheBandsEdgeIsInconclusive() {
        var run = Synthetic()
        run.neighbours = [neighbour(unlimited: 0.909, limited: 0.909)]
        let edge = run.claim("neighbours")
        #expect(edge.verdict == .inconclusive && edge.reason?.contains("neither inside 0.90–1.10 nor below it") == true, "\(edge)")
        run.neighbours = [neighbour(unlimited: 0.99, limited: 0.99)]
        #expect(run.claim("neighbours").verdict == .holds)
        // The committed neighbour run's memory.sustained: 0.913 with a wide spread.
        run.neighbours = [neighbour(unlimited: 0.913, limited: 0.913)]
        run.neighbours![0].metrics[0].unlimited = around(91.3, spread: 0.15, count: 5)
        #expect(run.claim("neighbours").verdict == .inconclusive)
        // Faster beside the limited neighbour than alone (the runs alone
        // drifted): not disturbed, and not shown undisturbed either.
        run.neighbours = [neighbour(unlimited: 0.6, limited: 1.2)]
        let faster = run.claim("neighbours")
        #expect(faster.verdict == .inconclusive && faster.reason?.contains("shown above 0.90–1.10, faster than alone: cpu.sieve") == true, "\(faster)")
        // Two victim runs a condition: too few for a 90 % interval.
        run.neighbours = [neighbour(unlimited: 1.0, limited: 1.0, count: 2)]
        #expect(run.claim("neighbours").reason?.hasPrefix("too few victim runs") == true)
    }

    /// A missing or idle control makes the row inconclusive, never holds.
    @Test func aMissingOrIdleControlIsInconclusive() {
        var run = Synthetic()
        var missing = neighbour(unlimited: 1.0, limited: 1.0)
        missing.neighbourCPUs = nil
        run.neighbours = [missing]
        #expect(run.claim("neighbours").verdictText == "inconclusive: the control is missing: no record of how busy the unlimited neighbour was")
        var idle = neighbour(unlimited: 1.0, limited: 1.0)
        idle.neighbourCPUs = ["unlimited": around(0.05, count: 5), "limited": around(0.05, count: 5)]
        run.neighbours = [idle]
        #expect(run.claim("neighbours").reason?.contains("kept only 0.05 CPUs busy") == true)
        // A limited neighbour that never ran proves nothing about the limits.
        var dead = neighbour(unlimited: 0.6, limited: 0.98)
        dead.neighbourCPUs = ["unlimited": around(0.5, count: 5), "limited": around(0.001, count: 5)]
        run.neighbours = [dead]
        #expect(run.claim("neighbours").reason?.contains("hardly ran") == true)
        dead.neighbourCPUs?["limited"] = nil
        run.neighbours = [dead]
        #expect(run.claim("neighbours").reason?.contains("the control is missing") == true)
        dead.neighbourCPUs?["limited"] = around(0.08, count: 5)
        run.neighbours = [dead]
        #expect(run.claim("neighbours").verdict == .partlyHolds)
    }

    @Test func theExpectedShareFollowsTheLimits() {
        var run = neighbour(unlimited: 1, limited: 1)
        #expect(abs(Neighbours.expectedShare(run)! - 100.0 / 101) < 1e-12)
        run.limitedCPUWeight = 10
        #expect(abs(Neighbours.expectedShare(run)! - 100.0 / 110) < 1e-12)
        run.limitedCPUWeight = nil
        #expect(Neighbours.expectedShare(run) == nil)
    }
}
