import Foundation
import LabContainer
import LabCore
import LabDoctor
import LabModel
import LabRunner
import LabStats
import LabVirt
import Testing

/// The peers on this host: every one must be here (setup-host --tests
/// installs them); crun alone may refuse, on a hybrid host. One at a time:
/// they are timed.
@Suite("Integration (root, this host): peers", .needsRoot, .needsQEMU, .serialized)
struct PeerIntegrationTests {
    func peer(_ kind: BackendKind) async throws -> PeerBackend {
        let record = try builtInImage()
        var guest: PeerBackend.Guest?
        if kind == .qemu {
            let kernel = try GuestKernel.find(paths: .fromEnvironment()).get()
            let (decision, _) = try Doctor(options: Doctor.Options()).acceleratorDecision(.auto, kernel: kernel)
            guest = PeerBackend.Guest(kernel: kernel, initramfs: record.initramfs, settings: Scenario.VMSettings(), accelerator: decision.accelerator)
        }
        return try PeerBackend.find(kind, rootfs: record.rootfs, limits: CgroupLimits(memoryBytes: 256 << 20), paths: .fromEnvironment(), guest: guest).get()
    }

    /// What peers leave: runc's cgroups (below the standing isolab-peers
    /// parent), bundles and state.
    func leftovers() -> [String] {
        var found = FileSystem.list(PeerBackend.directory(.fromEnvironment())).filter { !$0.hasPrefix("isolab-hyperfine") }
        for hierarchy in FileSystem.list("/sys/fs/cgroup") {
            for base in ["/sys/fs/cgroup/\(hierarchy)", "/sys/fs/cgroup"] where FileSystem.isDirectory(base + "/isolab-peers") {
                found += FileSystem.list(base + "/isolab-peers").filter { FileSystem.isDirectory(base + "/isolab-peers/" + $0) }.map { base + "/isolab-peers/" + $0 }
            }
        }
        return found
    }

    @Test(arguments: [BackendKind.runc, .unshare, .qemu])
    func aRequiredPeerRunsTheAgentToReadyAndIsMeasured(_ kind: BackendKind) async throws {
        let backend = try await peer(kind)
        // idle: up long enough for the memory sample taken at READY.
        let outcome = try await InstanceRun.run(backend, InstanceRequest(.agent(["idle", "--idle.seconds", "0.2"]), timeout: 600))
        #expect(outcome.ready != nil && outcome.exit.code == 0, "\(outcome.output)")
        #expect(outcome.kind == kind)
        #expect(outcome.ready?["role"] == (kind == .qemu ? "vm" : "container"), "\(outcome.ready ?? [:])")
        let names = outcome.timeline.phases.map(\.name)
        #expect(names.first == "spawn_start" && names.contains("ready") && names.last == "cleaned", "\(names)")
        #expect((outcome.memory.pssAtReadyKiB ?? 0) > 0, "no memory figure for \(kind)")
        #expect((outcome.memory.processesAtReady ?? 0) >= 1)
        if kind == .qemu { #expect(outcome.accelerator != nil) }
        #expect(leftovers().isEmpty, "\(leftovers())")
    }

    @Test func runcGetsTheLabsLimitsAndProfile() async throws {
        let backend = try await peer(.runc)
        // Inside runc's container: the memory limit in its cgroup, seccomp filtering keyctl.
        let outcome = try await InstanceRun.run(backend, InstanceRequest(.agent(["escape", "--only", "keyctl"]), timeout: 60))
        #expect(outcome.output.contains("\"metric\":\"keyctl\",\"value\":1"), "keyctl was not refused with EPERM under runc: \(outcome.output)")
        #expect(leftovers().isEmpty, "\(leftovers())")
    }

    /// podman and nspawn run here (setup-host --tests installs every peer);
    /// crun runs too, except on a hybrid host, where it refuses in its own words.
    @Test(arguments: [BackendKind.crun, .podman, .nspawn])
    func theOtherPeersRunOrAreRefusedOnlyWhereTheHostSaysSo(_ kind: BackendKind) async throws {
        let record = try builtInImage()
        let backend = try PeerBackend.find(kind, rootfs: record.rootfs, limits: CgroupLimits(memoryBytes: 256 << 20), paths: .fromEnvironment()).get()
        let hybrid = try CgroupLayout.detectHost().mode == .hybrid
        if let refusal = await backend.probe() {
            #expect(kind == .crun && hybrid && refusal.message.contains("hybrid"), "\(kind): \(refusal)")
        } else {
            #expect(!(kind == .crun && hybrid), "crun ran on a hybrid host: the doctor's note and docs/peers.md are wrong")
            let outcome = try await InstanceRun.run(backend, InstanceRequest(.agent(["idle", "--idle.seconds", "0.2"]), timeout: 120))
            #expect(outcome.ready != nil && outcome.exit.code == 0, "\(kind): \(outcome.output)")
            #expect((outcome.memory.pssAtReadyKiB ?? 0) > 0, "no memory figure for \(kind)")
            if kind == .podman {
                // conmon daemonizes, and is counted: more processes than podman's own tree.
                #expect((outcome.memory.processesAtReady ?? 0) >= 3, "\(outcome.memory)")
            }
        }
        #expect(leftovers().isEmpty, "\(kind): \(leftovers())")
    }

    /// A run never fails for a peer: one missing from PATH is skipped with an
    /// install hint, one that refuses the host (crun, hybrid) with its own
    /// error, and both reasons are in results.json and the printed summary.
    @Test func aRunSkipsAMissingOrRefusingPeerWithItsReason() throws {
        let home = try TemporaryHome()
        let bin = home.path + "/bin"
        try FileSystem.createDirectory(bin, mode: 0o755, parents: 0o755)
        let crun = try #require(HostCommand.which("crun"), "crun is not installed (scripts/setup-host --tests installs it)")
        #expect(symlink(crun, bin + "/crun") == 0)
        let scenario = home.path + "/skip.yaml"
        try "name: skip\nimage: busybox\nbackends: [bare, crun, podman]\nworkloads: [{name: noop}]\nrepetitions: 2\nwarmup: 0\n"
            .write(toFile: scenario, atomically: true, encoding: .utf8)
        // PATH holds crun alone: podman is "missing". The state directory is the usual one (its image is built).
        let run = try HostCommand.run(try isolabExecutable(), ["run", scenario, "--out", home.path + "/out"], timeout: 300, environment: ["PATH": bin])
        #expect(run.status == 0, "\(run.stderr.suffix(1500))")
        let results = try RunResults.load(file: home.path + "/out/results.json")
        let skipped = results.environment.skippedPeers ?? [:]
        #expect(skipped["podman"]?.contains("scripts/setup-host --peers") == true, "\(skipped)")
        #expect(run.stdout.contains("skipped podman: podman is not installed"))
        if try CgroupLayout.detectHost().mode == .hybrid {
            #expect(skipped["crun"]?.contains("hybrid") == true, "\(skipped)")
            #expect(results.backends == [.bare])
        } else {
            #expect(skipped["crun"] == nil && results.trials.contains { $0.backend == .crun && $0.error == nil })
        }
        #expect(results.trials.filter { $0.backend == .bare }.count == 2)
        #expect(leftovers().isEmpty, "\(leftovers())")
    }

    /// An independent instrument: hyperfine's whole-process time of the same
    /// command agrees with the lab's spawn → exit, within 1 ms or within the
    /// interval of their ratio.
    @Test(arguments: [BackendKind.unshare, .runc])
    func theLabsFigureAgreesWithHyperfine(_ kind: BackendKind) async throws {
        let hyperfine = try #require(HostCommand.which("hyperfine"), "hyperfine is not installed (scripts/setup-host --tests installs it)")
        let record = try builtInImage()
        let backend = try await peer(kind)
        // hyperfine's command: the one the peer runs, with a bundle of its own for runc.
        // Beside the lab's own bundles: the same file system for runc's state.
        let scratch = PeerBackend.directory(.fromEnvironment()) + "/isolab-hyperfine-\(getpid())"
        try FileSystem.createDirectory(scratch, mode: 0o700, parents: 0o755)
        defer { try? FileSystem.removeTree(scratch) }
        var command: [String]
        switch kind {
        case .runc:
            let bundle = OCIBundle(rootfs: record.rootfs, arguments: ["/sbin/isolab-agent", "run", "noop"], hostname: "isolab-hyperfine",
                                   limits: CgroupLimits(memoryBytes: 256 << 20), capabilities: Capabilities.defaultNames, seccomp: .default,
                                   cgroupsPath: "/isolab-peers/isolab-hyperfine-\(getpid())")
            try bundle.write(to: scratch)
            command = [backend.tool, "--root", scratch + "/state", "run", "--bundle", scratch, "isolab-hyperfine-\(getpid())"]
        default:
            command = [backend.tool, "--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "--root=" + record.rootfs, "--mount-proc",
                       "/sbin/isolab-agent", "run", "noop"]
        }
        var lab: [Double] = []
        var theirs: [Double] = []
        // Interleaved blocks, so that both instruments see the same machine.
        for _ in 0..<8 {
            for _ in 0..<5 {
                // Timing alone: the memory sampler's reads of smaps would slow runc (see InstanceRequest.sampleMemory).
                var request = InstanceRequest(.agent(["noop"]), timeout: 60)
                request.sampleMemory = false
                let outcome = try await InstanceRun.run(backend, request)
                lab.append(Double(outcome.timeline.duration("spawn_start", "exited") ?? 0) / 1e6)
            }
            let json = scratch + "/hyperfine.json"
            let quoted = command.joined(separator: " ")
            let run = try HostCommand.run(hyperfine, ["-N", "--warmup", "1", "--runs", "5", "--export-json", json, quoted], timeout: 120)
            #expect(run.status == 0, "\(run.stderr)")
            let results = try JSONSerialization.jsonObject(with: Data(try FileSystem.readBytes(json))) as? [String: Any]
            let times = ((results?["results"] as? [[String: Any]])?.first?["times"] as? [Double]) ?? []
            theirs += times.map { $0 * 1000 }
        }
        // Agreement within the two samples' own uncertainty: the exact
        // interval of lab / hyperfine reaches 1 ± 5 % (runc's spread here is
        // some 15 % of its median, so a bare 5 % on the medians alone failed
        // one run in four with nothing wrong). A lab clock off by more than
        // that, beyond noise, fails; so does one off by more than 1 ms at all
        // where the spread is tight (unshare).
        let (a, b) = (Statistics.median(lab), Statistics.median(theirs))
        let ratio = try #require(Exact.ratio(lab, theirs)?.interval())
        #expect(abs(a - b) <= 1.0 || (ratio.lower <= 1.05 && ratio.upper >= 0.95),
                "\(kind): the lab's median \(a) ms against hyperfine's \(b) ms, ratio CI \(ratio.lower)–\(ratio.upper)")
    }
}
