import Foundation
import LabAnalysis
import LabWire
import LabContainer
import LabCore
import LabModel
import Testing

@testable import LabRunner

func checkContext() throws -> CheckContext {
    CheckContext(rootfs: try builtInImage().rootfs, layout: try CgroupLayout.detectHost(), paths: .fromEnvironment())
}

@Suite("Integration (root, this host): the claims' checks", .needsRoot, .serialized)
struct CheckIntegrationTests {
    /// Every namespace probe isolated inside, and its bare control seeing the host's object.
    @Test func everyNamespaceProbeIsIsolatedAndItsControlSeesTheHost() async throws {
        let evidence = try await IsolationCheck.run(try checkContext())
        for kind in ["pid", "net", "ipc", "mnt", "uts"] {
            #expect(!evidence.probes(kind).isEmpty, "no \(kind) probe")
        }
        for probe in evidence.probes {
            // Raw observations only: the judgement is the analysis's.
            #expect(probe.isolated == nil && probe.controlSawHost == nil && probe.observed != nil)
            let judged = try #require(IsolationRules.judge(probe), "\(probe.rule ?? "no rule")")
            #expect(!judged.stored && judged.controlSawHost, "\(probe.namespace): \(probe.question): control \(probe.control), host \(probe.host)")
            // UTS isolates the hostname, not the kernel's release or version.
            let expected = !(probe.namespace == "uts" && probe.question.hasPrefix("the kernel"))
            #expect(judged.isolated == expected, "\(probe.namespace): \(probe.question): inside \(probe.inside), host \(probe.host)")
        }
    }
}

@Suite("Integration (root, this host, cgroup v1 here): cgroups measured", .needsRoot, .serialized)
struct CgroupCheckIntegrationTests {
    /// Weights 1:3 on one CPU split its time 25/75 within the check's
    /// tolerance, equal weights 50/50, and a 20 % quota caps the program
    /// that uses more without it.
    @Test func weightsSplitAPinnedCPUAndAQuotaCapsIt() async throws {
        let p = try await CgroupCheck.prioritise(try checkContext())
        // The rule's tolerance is the analysis's: the evidence carries raw observations only.
        #expect(p.tolerance == nil)
        let tolerance = CgroupRules.shareTolerance
        for (share, expected) in zip(p.shares, p.expected) {
            #expect(abs(share - expected) <= tolerance, "weights \(p.weights): shares \(p.shares)")
        }
        for share in p.controlShares { #expect(abs(share - 0.5) <= tolerance, "equal weights: \(p.controlShares)") }
        #expect(p.quotaUsed <= p.quota + 0.05, "quota \(p.quota): used \(p.quotaUsed)")
        #expect(p.quotaControlUsed > p.quota + 0.15, "without the quota: \(p.quotaControlUsed)")
    }

    /// The group's CPU time agrees with the agent's own within 10 %.
    @Test func theGroupAccountsWhatTheAgentUsed() async throws {
        let a = try await CgroupCheck.account(try checkContext())
        #expect(a.agentMs > 500, "the cpu workload ran for about a second: \(a.agentMs) ms")
        #expect(a.tolerance == nil)
        #expect(abs(a.ratio - 1) <= CgroupRules.accountTolerance, "cgroup \(a.cgroupMs) ms, agent \(a.agentMs) ms")
        // The control: an idle container reads a small fraction of it.
        #expect(a.idleCgroupMs.map { $0 < 0.1 * a.cgroupMs } == true, "idle: \(a.idleCgroupMs.map { "\($0) ms" } ?? "nothing")")
    }

    @Test func limitAndFreezeAreMeasuredWithTheirControls() async throws {
        let context = try checkContext()
        let limit = try await CgroupCheck.limit(context)
        #expect(limit.limitedExit == "killed by the memory limit (32 MiB)" && (limit.oomKills ?? 0) >= 1)
        #expect(limit.controlExit == "exited with 0")
        #expect((limit.pidsPeak ?? 99) <= limit.pidsLimit && (limit.forksRefused ?? 0) > 0)
        #expect((limit.pidsControlPeak ?? 0) > limit.pidsLimit, "without the limit the bomb held \(limit.pidsControlPeak.map(String.init) ?? "?")")
        let freeze = try await CgroupCheck.freeze(context)
        #expect(freeze.countBefore > 0 && freeze.countFrozen == freeze.countAfterHold && freeze.countAfterThaw > freeze.countAfterHold)
    }
}

@Suite("Integration (root, this host): the escape suite", .needsRoot, .serialized)
struct EscapeIntegrationTests {
    /// Every probe refused inside wherever root on the host is allowed it;
    /// where this host refuses it too, the probe is inconclusive, with the
    /// host's errno, and never counted as a pass.
    @Test func everyProbeIsRefusedInsideOrInconclusiveAndNoneEscapes() async throws {
        let evidence = try await EscapeCheck.run(try checkContext())
        #expect(evidence.probes.count == EscapeProbes.all.count)
        #expect(evidence.count(.escaped) == 0, "\(evidence.probes.filter { $0.status == .escaped }.map(\.name))")
        #expect(evidence.count(.refused) >= 8, "\(evidence.probes.map { "\($0.name): \($0.outsideText) / \($0.insideText)" })")
        for probe in evidence.probes where probe.status == .inconclusive {
            #expect(probe.outside != 0 && !probe.outsideText.isEmpty)
        }
        // The positive controls that this host allows: these must never be inconclusive here.
        for name in ["mount_tmpfs", "keyctl", "userns_mount", "ptrace_outside", "chroot_escape", "tiocsti", "mknod_kmsg"] {
            #expect(evidence.probes.first { $0.name == name }?.status == .refused, "\(name)")
        }
    }

    /// seccomp alone stops what the capabilities allow: without the filter a
    /// container's root may read its session keyring and make a user
    /// namespace with a mount in it; with the filter, both are refused.
    @Test func seccompRefusesWhatTheCapabilitiesAllow() async throws {
        let open = try await EscapeCheck.run(try checkContext(), seccomp: .unconfined)
        for name in ["keyctl", "userns_mount"] {
            #expect(open.probes.first { $0.name == name }?.status == .escaped, "\(name) without seccomp")
        }
        let filtered = try await EscapeCheck.run(try checkContext(), seccomp: .default)
        for name in ["keyctl", "userns_mount"] {
            #expect(filtered.probes.first { $0.name == name }?.status == .refused, "\(name) with seccomp")
        }
    }
}

@Suite("Integration (root, this host): device rules, v1 and v2 each on its own", .needsRoot, .serialized)
struct DeviceRulesIntegrationTests {
    /// A host process moved into `manager`'s group opens /dev/kmsg (c 1:11,
    /// not in the list) and /dev/null (in it); without a group, both open.
    func opens(in manager: (any CgroupManager)?) async throws -> String {
        let flag = NSTemporaryDirectory() + "isolab-devices-\(UUID().uuidString)"
        defer { unlink(flag) }
        let script = "while [ ! -e \(flag) ]; do sleep 0.01; done; (exec 3</dev/kmsg) 2>/dev/null && echo kmsg=opened || echo kmsg=refused; "
            + "(exec 3</dev/null) && echo null=opened || echo null=refused"
        let outcome = try await InstanceRun.run(BareBackend(agent: "/bin/true"), InstanceRequest(.command(["/bin/sh", "-c", script]), timeout: 30),
                                                endAfterDuring: false) { instance in
            if let manager, let pid = instance.hostProcesses().first { try manager.addProcess(pid) }
            FileManager.default.createFile(atPath: flag, contents: nil)
        }
        return outcome.output
    }

    @Test func theV1DevicesControllerRefusesWhatTheListLeavesOut() async throws {
        let layout = try CgroupLayout.detectHost()
        let mount = try #require(layout.v1MountPoint(of: "devices"), "this host has no v1 devices hierarchy")
        let manager = CgroupV1Manager(groups: ["devices": mount + "/isolab/test-devices-\(getpid())"])
        try manager.create(limits: CgroupLimits(restrictDevices: true))
        defer { try? manager.destroy() }
        let list = try FileSystem.readText(manager.groups["devices"]! + "/devices.list")
        #expect(list.contains("c 1:3 rwm") && !list.contains("a *:* rwm"), "\(list)")
        let inside = try await opens(in: manager)
        #expect(inside.contains("kmsg=refused") && inside.contains("null=opened"), "\(inside)")
        let control = try await opens(in: nil)
        #expect(control.contains("kmsg=opened") && control.contains("null=opened"), "\(control)")
    }

    /// The BPF device program on a cgroup2 group: on this hybrid host the
    /// unified hierarchy at /sys/fs/cgroup/unified carries it.
    @Test func theV2DeviceProgramRefusesWhatTheListLeavesOut() async throws {
        let layout = try CgroupLayout.detectHost()
        let unified = try #require(layout.unifiedMount, "this host has no cgroup2 mount")
        let manager = CgroupV2Manager(group: unified + "/isolab/test-devices-\(getpid())")
        try manager.create(limits: CgroupLimits(restrictDevices: true))
        defer { try? manager.destroy() }
        let inside = try await opens(in: manager)
        #expect(inside.contains("kmsg=refused") && inside.contains("null=opened"), "\(inside)")
        let control = try await opens(in: nil)
        #expect(control.contains("kmsg=opened"), "\(control)")
    }
}
