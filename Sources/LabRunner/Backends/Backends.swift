import Foundation
import LabAgentCore
import LabContainer
import LabCore
import LabImage
import LabVirt

/// What one backend gives back for one trial.
public struct TrialOutcome: Sendable {
    public var timeline: Timeline
    public var lines: [AgentLine]
    public var memoryKiB: Double?
    public var memorySource: String
    public var cpuNs: UInt64?
    public var accelerator: Accelerator?
    /// Exit to cleaned is teardown; bare has none.
    public var hasTeardown: Bool
    public var consoleTail: String?
    /// The agent's own peak RSS from its DONE line, the same measure in every backend.
    public var agentPeakKiB: Double?
}

/// The one thing the runner asks of every backend: run the agent with these
/// arguments and say what happened. It never asks which kind it is.
public protocol TrialBackend: Sendable {
    var kind: Scenario.BackendKind { get }
    func run(agentArguments: [String]) async throws -> TrialOutcome
}

/// The agent as a plain child process: the floor every backend is compared with.
public struct BareBackend: TrialBackend {
    public let kind = Scenario.BackendKind.bare
    /// The image's own copy of the agent: the same bits as in the container and the VM.
    public var agent: String

    public func run(agentArguments: [String]) async throws -> TrialOutcome {
        let agent = self.agent
        let outcome = try await Threads.run { try BareLauncher.run(agent, ["run"] + agentArguments, timeout: 600) }
        // The agent's own VmHWM from its DONE line: rusage's max RSS of a
        // posix_spawned child counts the parent's pages it shared before the exec.
        let ownPeak = AgentLine.doneFields(outcome.output)["max_rss_kb"].flatMap(Double.init)
        return TrialOutcome(timeline: outcome.timeline, lines: outcome.lines, memoryKiB: ownPeak,
                            memorySource: "agent peak RSS", cpuNs: outcome.cpuNs, accelerator: nil, hasTeardown: false,
                            agentPeakKiB: ownPeak)
    }
}

/// The lab's own container.
public struct ContainerBackend: TrialBackend {
    public let kind = Scenario.BackendKind.container
    public var rootfs: String
    public var limits: CgroupLimits
    public var layout: CgroupLayout
    public var capabilities: UInt64

    public func run(agentArguments: [String]) async throws -> TrialOutcome {
        let (rootfs, limits, layout, capabilities) = (self.rootfs, self.limits, self.layout, self.capabilities)
        return try await Threads.run {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw LabError.syscall("pipe") }
            var spec = ContainerSpec(rootfs: rootfs, command: ["/sbin/isolab-agent", "run"] + agentArguments, limits: limits,
                                     capabilities: capabilities)
            spec.stdout = fds[1]
            let container: Container
            do {
                container = try Container.create(spec, layout: layout)
            } catch {
                close(fds[0]); close(fds[1])
                throw error
            }
            close(fds[1])
            var collector = OutputCollector()
            collector.drain(fds[0], deadline: MonotonicClock.now() + 600_000_000_000) { container.mark("ready", at: $0) }
            close(fds[0])
            let status = container.wait()
            let stats = container.stats()
            let exit = container.describeExit(status)
            try container.destroy()
            if exit.exitCode != 0 && AgentLine.parseAll(collector.text).last.map({ if case .done = $0 { false } else { true } }) ?? true {
                throw LabError(.failed, "container \(spec.id) \(exit.text)")
            }
            return TrialOutcome(timeline: container.timeline, lines: AgentLine.parseAll(collector.text),
                                memoryKiB: stats.memoryPeakBytes.map { Double($0) / 1024 }, memorySource: "cgroup peak",
                                cpuNs: stats.cpuUsageNs, accelerator: nil, hasTeardown: true,
                                agentPeakKiB: AgentLine.doneFields(collector.text)["max_rss_kb"].flatMap(Double.init))
        }
    }
}

/// The same image as a libvirt guest.
public struct VMBackend: TrialBackend {
    public let kind = Scenario.BackendKind.vm
    public var machines: VirtualMachines
    public var kernel: GuestKernel
    public var initramfs: String
    public var settings: Scenario.VMSettings
    public var accelerator: Accelerator

    public func run(agentArguments: [String]) async throws -> TrialOutcome {
        var spec = VMSpec(kernel: kernel, initramfs: initramfs, workload: agentArguments)
        spec.memoryMiB = settings.memoryMiB
        spec.vcpus = settings.vcpus
        spec.machine = settings.machine
        spec.accelerator = accelerator
        spec.bootTimeout = settings.bootTimeout
        let run = try await machines.run(spec)
        return TrialOutcome(timeline: run.timeline, lines: run.lines,
                            memoryKiB: (run.resources.pssAtEndKiB ?? run.resources.peakRSSKiB).map(Double.init),
                            memorySource: "QEMU PSS", cpuNs: run.resources.cpuNs, accelerator: accelerator, hasTeardown: true,
                            consoleTail: run.consoleTail(), agentPeakKiB: AgentLine.doneFields(run.console)["max_rss_kb"].flatMap(Double.init))
    }
}

/// Blocking work (spawns, waits, pipe reads) on a thread of its own rather
/// than on Swift's cooperative pool.
enum Threads {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }
}
