import Foundation
import LabWire
import LabContainer
import LabCore
import LabDoctor
import LabImage
import LabModel
import LabRunner
import Testing

@testable import LabVirt

/// The lab's VM backend with this host's accelerator (the doctor's verdict, probed once if missing).
func vmBackend(kernel: GuestKernel? = nil) async throws -> VMBackend {
    let paths = LabPaths.fromEnvironment()
    let guest = try kernel ?? GuestKernel.find(paths: paths).get()
    let (decision, _) = try Doctor(options: Doctor.Options()).acceleratorDecision(.auto, kernel: guest)
    return VMBackend(connection: try await LibvirtConnection.open(uri: "qemu:///system"), kernel: guest,
                     initramfs: try builtInImage().initramfs, settings: Scenario.VMSettings(), accelerator: decision.accelerator)
}

/// One guest through the lab's one instance path.
func bootVM(_ workload: [String], timeout: Double = 150) async throws -> InstanceOutcome {
    try await InstanceRun.run(try await vmBackend(), InstanceRequest(.agent(workload), timeout: timeout))
}

func labDomains() async throws -> [String] {
    let connection = try await LibvirtConnection.open(uri: "qemu:///system")
    return try await connection.domainNames().filter { $0.hasPrefix("isolab-") }
}

@Suite("Integration (root, libvirt, TCG here): VMs", .needsRoot, .needsLibvirt, .serialized)
struct VMIntegrationTests {
    @Test func builtInImageBootsToReadyWithEveryPhaseInOrderAndIsGoneAfterwards() async throws {
        let run = try await bootVM(["noop"])
        let names = run.timeline.phases.map(\.name)
        #expect(names == ["define_start", "define_call", "domain_started", "first_console_byte", "ready", "done", "exited", "cleaned"])
        let instants = run.timeline.phases.map(\.ns)
        #expect(instants == instants.sorted())
        #expect(run.ready?["role"] == "vm")
        #expect(run.ready?["kernel"]?.contains("cloud") == true)
        #expect(run.doneStatus == 0)
        #expect((run.ready?["uptime_ns"].flatMap(Double.init) ?? 0) > 0)
        #expect((run.memory.pssAtReadyKiB ?? 0) > 0 && (run.memory.rssPeakKiB ?? 0) > 0 && (run.figures.cpuNs ?? 0) > 0)
        #expect(run.memory.processesAtReady == 1, "QEMU alone: no helper process")
        #expect(try await !labDomains().contains("isolab-" + run.id))
        #expect(!FileSystem.exists(VirtualMachine.stateDirectory(.fromEnvironment()) + "/" + run.id))
        #expect(run.output.utf8.count <= 1 << 20)
    }

    @Test func aAgentResultComesBackThroughTheConsole() async throws {
        let run = try await bootVM(["syscall", "--seconds", "0.2"])
        let results = run.lines.compactMap { line -> AgentResult? in
            guard case .result(let json) = line else { return nil }
            return try? JSONDecoder().decode(AgentResult.self, from: Data(json.utf8))
        }
        #expect(results.map(\.metric) == ["getppid"])
        #expect((results.first?.value ?? 0) > 0)
    }

    @Test func anAgentErrorInTheGuestIsReported() async throws {
        let run = try await bootVM(["noop", "--bogus", "1"])
        #expect(run.doneStatus == 2)
        let error = run.lines.compactMap { line -> String? in if case .error(let json) = line { json } else { nil } }.first
        #expect(error?.contains("no workload of noop takes --bogus") == true)
        #expect(try await !labDomains().contains("isolab-" + run.id))
    }

    @Test func aMissingKernelIsAClearErrorAndLeavesNothing() async throws {
        let before = try await labDomains()
        let backend = try await vmBackend(kernel: GuestKernel(path: "/nonexistent/vmlinuz", version: "x", sizeBytes: 0))
        do {
            _ = try await InstanceRun.run(backend, InstanceRequest(.agent(["noop"]), timeout: 60))
            Issue.record("booted without a kernel")
        } catch let error as LabError {
            #expect(error.message.contains("guest kernel /nonexistent/vmlinuz not found"))
        }
        #expect(Set(try await labDomains()).isSubset(of: Set(before)))
    }

    @Test func aGuestThatNeverFinishesIsDestroyedAtTheTimeout() async throws {
        let before = try await labDomains()
        do {
            _ = try await bootVM(["noop"], timeout: 1.5)
            Issue.record("a guest booted to the end in 1.5 s")
        } catch let error as LabError {
            #expect(error.code == .timeout)
            #expect(error.message.contains("did not finish within 1.5 s") || error.message.contains("did not connect to the console"), "\(error.message)")
        }
        #expect(Set(try await labDomains()).isSubset(of: Set(before)))
    }
}

@Suite("Integration (root, libvirt): isolab vm run", .needsRoot, .needsLibvirt)
struct VMCommandIntegrationTests {
    @Test func unreachableLibvirtIsAClearError() throws {
        let output = try HostCommand.run(try isolabExecutable(), ["vm", "run", "--libvirt-uri", "qemu+unix:///system?socket=/nonexistent/sock", "--", "noop"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("is libvirtd running? start it with scripts/setup-host"))
    }

    @Test(arguments: [
        (["--memory", "1M", "--", "noop"], "--memory 1M must be between 64M and 1T"),
        (["--memory", "banana", "--", "noop"], "--memory 'banana' is not a size"),
        (["--vcpus", "0", "--", "noop"], "--vcpus 0 must be between 1 and 64"),
        (["--kernel", "/nonexistent/vmlinuz", "--", "noop"], "--kernel /nonexistent/vmlinuz: no such kernel file"),
        (["--", "bogus"], "unknown workload 'bogus'; accepted: noop, cpu"),
    ])
    func badInputIsOneLine(_ arguments: [String], _ expected: String) throws {
        let output = try HostCommand.run(try isolabExecutable(), ["vm", "run"] + arguments)
        #expect(output.status == 2, "\(output.stderr)")
        #expect(output.stderr.hasPrefix("isolab: ") && output.stderr.contains(expected), "\(output.stderr)")
        #expect(output.stderr.split(separator: "\n").count == 1)
    }

    @Test func kvmWhereItIsUnusableFailsAtOnce() throws {
        let paths = LabPaths.fromEnvironment()
        let kernel = try GuestKernel.find(paths: paths).get()
        guard let cache = AcceleratorCache.load(paths: paths, key: .current(kernel: kernel)), cache.verdict(.kvm)?.usable == false else {
            return  // KVM works (or was never probed) on this host: nothing to refuse.
        }
        let start = MonotonicClock.now()
        let output = try HostCommand.run(try isolabExecutable(), ["vm", "run", "--accel", "kvm", "--", "noop"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("KVM is unusable on this host"))
        #expect(MonotonicClock.now() - start < 10_000_000_000, "it must not boot and hang")
    }
}

/// `isolab vm run` of a guest that runs for about 35 s; its stderr goes to
/// `stderrPath(of:)` so that a failure can say why.
func startLongVMRun() throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try isolabExecutable())
    process.arguments = ["vm", "run", "--", "syscall", "--seconds", "30"]
    process.standardOutput = FileHandle.nullDevice
    let log = NSTemporaryDirectory() + "isolab-vm-run-\(UUID().uuidString).log"
    FileManager.default.createFile(atPath: log, contents: nil)
    process.standardError = FileHandle(forWritingAtPath: log)
    process.environment = ProcessInfo.processInfo.environment.merging(["ISOLAB_TEST_LOG": log]) { $1 }
    try process.run()
    return process
}

func stderrText(of process: Process) -> String {
    (process.environment?["ISOLAB_TEST_LOG"]).flatMap { FileSystem.readTextIfPresent($0) } ?? ""
}

/// The domain a lab process owns, once libvirt runs it. The bound is generous:
/// on a fresh host the first start may wait for the image build and for
/// libvirt probing QEMU, while other tests load both CPUs.
func domainOwned(by owner: pid_t, timeout: Double = 180) async throws -> String? {
    let directory = VirtualMachine.stateDirectory(.fromEnvironment())
    let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
    // One connection for the whole wait: opening one per poll floods libvirtd.
    let connection = try await LibvirtConnection.open(uri: "qemu:///system")
    while MonotonicClock.now() < deadline {
        if !ProcessState.isAlive(owner) { return nil }
        for name in FileSystem.list(directory) where name.hasSuffix(".json") {
            if let bytes = try? FileSystem.readBytes(directory + "/" + name),
               let state = try? JSONDecoder().decode(VirtualMachine.State.self, from: Data(bytes)),
               state.ownerPID == owner, try await connection.isActive(name: state.domain) {
                return state.domain
            }
        }
        try await Task.sleep(nanoseconds: 100_000_000)
    }
    return nil
}

/// In the suite that runs `isolab gc`, so that two collections never race.
extension ContainerCommandIntegrationTests {
    /// The lead of the first wave: `isolab gc` under another ISOLAB_HOME (as
    /// tests run it) destroyed every isolab-* domain it did not know, and the
    /// lab's `vm run` then reported "the guest powered off". Now that gc goes
    /// by this home's state files only, the guest lives on; SIGINT then ends
    /// the run with 130 and leaves no domain and no files. (This was the
    /// first wave's flaky SIGINT test: a gc of another test, in another
    /// suite or another home, destroyed its domain mid-start.)
    @Test func aLiveVMRunSurvivesGcFromAnotherHomeAndSigintEndsItCleanly() async throws {
        let process = try startLongVMRun()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                _ = try? HostCommand.run(try isolabExecutable(), ["gc"], timeout: 60)
            }
        }
        let domain = try #require(try await domainOwned(by: process.processIdentifier), "isolab vm run ended: \(stderrText(of: process))")
        let otherHome = NSTemporaryDirectory() + "isolab-other-\(UUID().uuidString)"
        defer { try? FileSystem.removeTree(otherHome) }
        let gc = try HostCommand.run(try isolabExecutable(), ["gc"], timeout: 60, environment: ["ISOLAB_HOME": otherHome])
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(!gc.stdout.contains(domain), "\(gc.stdout)")
        // This home's gc too: the owner is alive.
        let own = try HostCommand.run(try isolabExecutable(), ["gc"], timeout: 60)
        #expect(!own.stdout.contains(domain), "\(own.stdout)")
        #expect(try await labDomains().contains(domain), "gc destroyed a live lab's guest")
        #expect(process.isRunning, "isolab vm run ended: \(stderrText(of: process))")

        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 128 + SIGINT, "exit \(process.terminationStatus) (\(process.terminationReason == .exit ? "exit" : "signal")): \(stderrText(of: process))")
        #expect(try await !labDomains().contains(domain))
        let files = FileSystem.list(VirtualMachine.stateDirectory(.fromEnvironment())).filter { domain.hasSuffix($0.replacingOccurrences(of: ".json", with: "")) }
        #expect(files.isEmpty, "\(files)")
    }

    @Test func gcDestroysTheGuestOfASigkilledLab() async throws {
        let process = try startLongVMRun()
        // A failed expectation below must not leave the guest running into other tests.
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGINT)
                process.waitUntilExit()
            }
        }
        let domain = try #require(try await domainOwned(by: process.processIdentifier), "isolab vm run ended (\(process.isRunning ? "running" : "status \(process.terminationStatus), reason \(process.terminationReason.rawValue)")): \(stderrText(of: process))")
        // Past virDomainCreateXML (QEMU connects to the console while it starts): a
        // lab killed before that takes its guest's start down with it.
        try await Task.sleep(nanoseconds: 2_000_000_000)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(try await labDomains().contains(domain), "a SIGKILLed lab cannot destroy its guest: gc must")
        let gc = try HostCommand.run(try isolabExecutable(), ["gc"], timeout: 60)
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(gc.stdout.contains("removed libvirt domain \(domain)"))
        #expect(gc.stdout.contains("removed VM files of \(domain)"))
        #expect(try await !labDomains().contains(domain))
    }
}

@Suite("Integration (root, libvirt, TCG here): volumes on the host's disk", .needsRoot, .needsLibvirt)
struct VolumeIntegrationTests {
    /// The same fileio in /data: a host directory for bare and the
    /// container (bind-mounted), an ext4 disk image (virtio-blk, cache=none)
    /// for the guest; each volume is gone afterwards.
    @Test func fileioWritesToEachBackendsVolume() async throws {
        let image = try builtInImage()
        let request = InstanceRequest(.agent(["fileio", "--dir", "/data", "--mib", "4", "--count", "10"]), timeout: 300,
                                      volume: .init(sizeBytes: 64 << 20))
        let bare = BareBackend(agent: image.rootfs + "/sbin/isolab-agent")
        let container = ContainerBackend(rootfs: image.rootfs, limits: CgroupLimits(), layout: try .detectHost(),
                                         capabilities: try Capabilities.set(adding: [], dropping: []).mask)
        let volumes = Volume.directory(.fromEnvironment())
        let before = Set(FileSystem.list(volumes))
        for backend in [bare, container, try await vmBackend()] as [any Backend] {
            let outcome = try await InstanceRun.run(backend, request)
            #expect(outcome.doneStatus == 0, "\(backend.kind.rawValue): \(outcome.tail())")
            let results = outcome.lines.compactMap { line -> AgentResult? in
                guard case .result(let json) = line else { return nil }
                return try? JSONDecoder().decode(AgentResult.self, from: Data(json.utf8))
            }
            #expect(results.contains { $0.metric == "seq_write" && $0.params["dir"] != nil }, "\(backend.kind.rawValue): \(outcome.output)")
        }
        #expect(Set(FileSystem.list(volumes)).isSubset(of: before), "a volume was left behind")
    }
}
