import Foundation
import LabContainer
import LabCore
import LabModel
import Testing

@testable import LabRunner

func checkContext() throws -> CheckContext {
    CheckContext(rootfs: try builtInImage().rootfs, layout: try CgroupLayout.detectHost(), paths: .fromEnvironment())
}

@Suite("Integration (root, this host): the claims' checks", .serialized)
struct CheckIntegrationTests {
    /// Every namespace probe isolated inside, and its bare control seeing the host's object.
    @Test func everyNamespaceProbeIsIsolatedAndItsControlSeesTheHost() async throws {
        let evidence = try await IsolationCheck.run(try checkContext())
        for kind in ["pid", "net", "ipc", "mnt", "uts"] {
            #expect(!evidence.probes(kind).isEmpty, "no \(kind) probe")
        }
        for probe in evidence.probes {
            #expect(probe.controlSawHost, "\(probe.namespace): \(probe.question): control \(probe.control), host \(probe.host)")
            // UTS isolates the hostname, not the kernel's release or version.
            let expected = !(probe.namespace == "uts" && probe.question.hasPrefix("the kernel"))
            #expect(probe.isolated == expected, "\(probe.namespace): \(probe.question): inside \(probe.inside), host \(probe.host)")
        }
    }
}

@Suite("Integration (root, this host, cgroup v1 here): cgroups measured", .serialized)
struct CgroupCheckIntegrationTests {
    /// Weights 1:3 on one CPU split its time 25/75 within the check's
    /// tolerance, equal weights 50/50, and a 20 % quota caps the program
    /// that uses more without it.
    @Test func weightsSplitAPinnedCPUAndAQuotaCapsIt() async throws {
        let p = try await CgroupCheck.prioritise(try checkContext())
        #expect(p.tolerance == 0.08)
        for (share, expected) in zip(p.shares, p.expected) {
            #expect(abs(share - expected) <= p.tolerance, "weights \(p.weights): shares \(p.shares)")
        }
        for share in p.controlShares { #expect(abs(share - 0.5) <= p.tolerance, "equal weights: \(p.controlShares)") }
        #expect(p.quotaUsed <= p.quota + 0.05, "quota \(p.quota): used \(p.quotaUsed)")
        #expect(p.quotaControlUsed > p.quota + 0.15, "without the quota: \(p.quotaControlUsed)")
    }

    /// The group's CPU time agrees with the agent's own within 10 %.
    @Test func theGroupAccountsWhatTheAgentUsed() async throws {
        let a = try await CgroupCheck.account(try checkContext())
        #expect(a.agentMs > 500, "the cpu workload ran for about a second: \(a.agentMs) ms")
        #expect(abs(a.ratio - 1) <= a.tolerance, "cgroup \(a.cgroupMs) ms, agent \(a.agentMs) ms")
    }

    @Test func limitAndFreezeAreMeasuredWithTheirControls() async throws {
        let context = try checkContext()
        let limit = try await CgroupCheck.limit(context)
        #expect(limit.limitedExit == "killed by the memory limit (32 MiB)" && (limit.oomKills ?? 0) >= 1)
        #expect(limit.controlExit == "exited with 0")
        #expect((limit.pidsPeak ?? 99) <= limit.pidsLimit && (limit.forksRefused ?? 0) > 0)
        let freeze = try await CgroupCheck.freeze(context)
        #expect(freeze.countBefore > 0 && freeze.countFrozen == freeze.countAfterHold && freeze.countAfterThaw > freeze.countAfterHold)
    }
}
