import Foundation
import LabContainer
import LabCore
import LabImage
import LabAnalysis
import LabModel
import LabReport
import LabRunner
import Testing

/// The debian image, built once in the usual state directory (mmdebstrap
/// from the Debian archive the first time, from the package cache after).
func debianImage() throws -> ImageBuilder.Result {
    let builder = ImageBuilder(store: ImageStore(paths: .fromEnvironment()), agentPath: try builtExecutable("isolab-agent"))
    return try builder.build(.builtinDebian)
}

/// Files of a tree changed since `reference` was written (`find -newer`).
func filesNewer(than reference: String, in root: String) throws -> [String] {
    // -mindepth 1: the image directory itself is newer than its manifest (renamed into it).
    let output = try HostCommand.run("/usr/bin/find", [root, "-xdev", "-mindepth", "1", "-newer", reference], timeout: 120)
    return output.stdout.split(separator: "\n").map(String.init)
}

@Suite("Integration (root, libvirt, TCG here, the Debian archive once): whole-OS images, system containers and VMs", .needsRoot, .needsLibvirt, .serialized)
struct FullOSIntegrationTests {
    @Test func theDebianImageHasItsSystemKernelDiskAndPackageListAndIsCached() throws {
        let first = try debianImage()
        let os = try #require(first.record.manifest.os)
        #expect(os.initSystem == "systemd")
        #expect(os.packages.contains { $0.name == "systemd" && !$0.version.isEmpty })
        #expect(os.packages.contains { $0.name.hasPrefix("linux-image-") && $0.name.hasSuffix("-cloud-amd64") })
        for file in [first.record.kernel, first.record.disk, first.record.initramfs].compactMap({ $0 }) {
            #expect((FileSystem.fileSize(file) ?? 0) > 1 << 20, "\(file)")
        }
        #expect(FileSystem.exists(first.record.rootfs + "/usr/local/sbin/isolab-agent"))
        #expect(FileSystem.exists(first.record.rootfs + "/etc/systemd/system/multi-user.target.wants/isolab-agent.service"))
        // The second build is the store's, found by its inputs.
        let second = try debianImage()
        #expect(second.cached && second.record.manifest.digest == first.record.manifest.digest)
    }

    /// systemd as PID 1 of the lab's own container, to the agent's READY;
    /// the image untouched (the instance wrote to its own overlay), nothing left.
    @Test func aSystemContainerBootsSystemdToMultiUserAndLeavesNothing() async throws {
        let record = try debianImage().record
        var backend = ContainerBackend(template: ContainerSpec(rootfs: record.rootfs, command: [], limits: CgroupLimits(memoryBytes: 512 << 20), capabilities: 0),
                                       layout: try CgroupLayout.detectHost())
        backend.system = true
        #expect(backend.kind == .systemContainer)
        let outcome = try await InstanceRun.run(backend, InstanceRequest(.agent(["noop"]), timeout: 120))
        #expect(outcome.ready?["init"] == "systemd" && outcome.ready?["role"] == "container", "\(outcome.tail())")
        #expect(["running", "degraded"].contains(outcome.ready?["system_state"] ?? ""), "\(outcome.ready ?? [:])")
        #expect(outcome.exit.code == 0 || outcome.exit.code == 128 + SIGINT, "\(outcome.exit) \(outcome.tail())")
        let boot = try #require(outcome.lines.compactMap { line -> BootRecord? in
            if case .boot(let json) = line { return try? JSONDecoder().decode(BootRecord.self, from: Data(json.utf8)) }
            return nil
        }.first, "no BOOT line: \(outcome.tail())")
        #expect(boot.clock == "host monotonic")
        #expect(boot.phasesMs.map(\.0) == ["userspace"] && (boot.phasesMs.first?.1 ?? 0) > 0)
        #expect(!boot.blame.isEmpty && boot.analyze.contains("Startup finished"), "\(boot)")
        let names = outcome.timeline.phases.map(\.name)
        #expect(names.first == "spawn_start" && names.contains("exec") && names.contains("ready") && names.last == "cleaned", "\(names)")
        // Two finish lines and systemd's own clock agree on the order: exec, systemd's start, its
        // READY=1 on the notify socket (and its finish timestamp, on the host's clock), the agent's READY.
        let exec = try #require(outcome.timeline["exec"]), ready = try #require(outcome.timeline["ready"])
        let notified = try #require(outcome.timeline["systemd_ready"], "no READY=1 on the notify socket: \(names)")
        let userspace = UInt64(try #require(boot.userspaceUs)) * 1000, finish = UInt64(try #require(boot.finishUs)) * 1000
        #expect(exec <= userspace && userspace < finish && finish <= ready, "exec \(exec) systemd \(userspace)-\(finish) ready \(ready)")
        #expect(exec < notified && notified <= ready, "exec \(exec) READY=1 \(notified) ready \(ready)")
        #expect(outcome.timeline["done"] != nil && (outcome.timeline["done"] ?? 0) < (outcome.timeline["exited"] ?? 0))
        #expect(leftoverCgroups().isEmpty, "\(leftoverCgroups())")
        #expect(FileSystem.list(Container.stateDirectory(.fromEnvironment())).isEmpty)
        #expect(try filesNewer(than: record.directory + "/manifest.json", in: record.rootfs).isEmpty, "the system container wrote into the image")
    }

    /// The notes' own case end to end: {one process, whole OS} x {container,
    /// VM} in one run, the 2x2 table and the whole-OS claims row from it.
    @Test func aFullOSRunBootsEachCellAndReportsTheMatrix() throws {
        let record = try debianImage().record
        let home = try TemporaryHome()
        let scenario = home.path + "/full-os.yaml"
        try FileSystem.writeAtomically(scenario, text: """
            name: full-os-test
            image: busybox
            os_image: debian
            backends: [container, system-container, vm, os-vm]
            workloads: [{name: noop}]
            repetitions: 1
            warmup: 0
            limits: {memory: 512M}
            vm: {accel: auto, memory: 512M, boot_timeout: 300}

            """)
        // The usual state directory: its images (the debian one above) and kernel.
        let run = try HostCommand.run(try isolabExecutable(), ["run", scenario, "--out", home.path + "/out"], timeout: 900)
        #expect(run.status == 0, "\(run.stderr.suffix(2000))")
        let results = try RunResults.load(file: home.path + "/out/results.json")
        #expect(results.trials.count == 4 && results.trials.allSatisfy { $0.error == nil }, "\(results.trials.map { "\($0.backend.rawValue): \($0.error ?? "ok")" })")
        let osVM = try #require(results.trials.first { $0.backend == .osVM })
        let phases = try #require(osVM.boot?.phasesMs)
        #expect(phases.map(\.0) == ["kernel", "userspace"] && phases.allSatisfy { $0.1 > 0 }, "\(phases)")
        // The host's phases in order: define, QEMU, the console's first byte, READY, the stop.
        let order = ["define_start", "domain_started", "first_console_byte", "ready", "exited", "cleaned"]
        let names = osVM.timeline.map(\.name)
        #expect(order.compactMap { names.firstIndex(of: $0) } == Array(order.compactMap { names.firstIndex(of: $0) }).sorted() && order.allSatisfy(names.contains), "\(names)")
        #expect(osVM.samples.contains { $0.workload == "boot" && $0.metric == "userspace" })
        let claim = try #require(Claims.evaluate(results).first { $0.id == "startup.full-os" })
        #expect(claim.verdict != .notMeasured, "\(claim)")
        let html = try FileSystem.readText(home.path + "/out/report.html")
        #expect(html.contains("<table id=\"full-os-table\">") && html.contains("systemd-analyze blame"))
        #expect(leftoverCgroups().isEmpty, "\(leftoverCgroups())")
        #expect(FileSystem.list(Container.stateDirectory(.fromEnvironment())).isEmpty)
        let written = try filesNewer(than: record.directory + "/manifest.json", in: record.directory)
        #expect(written.isEmpty, "a run wrote into the image (disk or rootfs): \(written)")
    }
}
