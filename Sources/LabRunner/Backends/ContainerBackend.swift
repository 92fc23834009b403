import Foundation
import LabContainer
import LabCore
import LabModel

/// The lab's own container: every instance a new `Container` with the
/// same configuration.
public struct ContainerBackend: Backend {
    public let kind = BackendKind.container
    /// Everything but the command and the descriptors, which each request gives.
    public var template: ContainerSpec
    public var layout: CgroupLayout
    public var paths: LabPaths

    public init(template: ContainerSpec, layout: CgroupLayout, paths: LabPaths = .fromEnvironment()) {
        self.template = template
        self.layout = layout
        self.paths = paths
    }

    /// A container of `rootfs` with the default environment and capabilities.
    public init(rootfs: String, limits: CgroupLimits, layout: CgroupLayout, capabilities: UInt64, paths: LabPaths = .fromEnvironment()) {
        self.init(template: ContainerSpec(rootfs: rootfs, command: [], limits: limits, capabilities: capabilities), layout: layout, paths: paths)
    }

    public func start(_ request: InstanceRequest) async throws -> any Instance {
        var spec = template
        spec.id = ContainerSpec.newID()
        if template.hostname == template.id { spec.hostname = spec.id }
        switch request.program {
        case .agent(let arguments): spec.command = ["/sbin/isolab-agent", "run"] + arguments
        case .command(let command): spec.command = command
        }
        let (layout, paths) = (self.layout, self.paths)
        // A volume: a fresh host directory, bound at its path inside.
        var volumeDirectory: String?
        if let volume = request.volume {
            let directory = try Volume.makeDirectory(paths: paths)
            spec.volumes.append(ContainerSpec.Volume(source: directory, target: volume.path))
            volumeDirectory = directory
        }
        do {
            if let stdin = request.stdin { spec.stdin = stdin }
            let instance = try await start(spec, output: request.output, mergeStderr: request.mergeStderr, layout: layout, paths: paths)
            instance.volumeDirectory = volumeDirectory
            return instance
        } catch {
            if let volumeDirectory { try? FileSystem.removeTree(volumeDirectory) }
            throw error
        }
    }

    func start(_ spec: ContainerSpec, output: InstanceRequest.Output, mergeStderr: Bool, layout: CgroupLayout, paths: LabPaths) async throws -> ContainerInstance {
        var spec = spec
        switch output {
        case .terminal:
            // Never the host's terminal itself: a pty of its own, or pipes.
            let relay = try TerminalRelay()
            (spec.stdin, spec.stdout, spec.stderr) = relay.childFDs
            spec.controllingTerminal = relay.usesPTY
            let frozen = spec
            let container = try await Blocking.run { try Container.create(frozen, layout: layout, paths: paths) }
            relay.start()
            let instance = ContainerInstance(container: container, outputFD: nil)
            instance.relay = relay
            return instance
        case .capture:
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw LabError.syscall("pipe") }
            spec.stdout = fds[1]
            if mergeStderr { spec.stderr = fds[1] }
            let created: Container
            do {
                let frozen = spec
                created = try await Blocking.run { try Container.create(frozen, layout: layout, paths: paths) }
            } catch {
                close(fds[0])
                close(fds[1])
                throw error
            }
            close(fds[1])
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            return ContainerInstance(container: created, outputFD: fds[0])
        }
    }
}

/// A started `Container` behind the `Instance` protocol.
final class ContainerInstance: Instance, @unchecked Sendable {
    let container: Container
    let outputFD: Int32?
    let kind = BackendKind.container
    let accelerator: Accelerator? = nil
    private let lock = NSLock()
    private var status: Int32?
    private var stats: CgroupStats?
    private var outputClosed = false
    /// The instance's volume, removed at teardown.
    var volumeDirectory: String?
    /// An interactive instance's stdio, copied to and from the host's.
    var relay: TerminalRelay?

    var id: String { container.spec.id }
    var timeline: Timeline { container.timeline }

    init(container: Container, outputFD: Int32?) {
        self.container = container
        self.outputFD = outputFD
    }

    func mark(_ phase: String, at ns: UInt64) { container.mark(phase, at: ns) }

    func hostProcesses() -> [pid_t] { container.cgroups.processes() }

    func waitForExit(until deadline: UInt64) async -> InstanceExit? {
        let container = self.container
        guard let status = await Blocking.run({ container.wait(until: deadline) }) else { return nil }
        lock.withLock { self.status = status }
        if let relay { await Blocking.run { relay.finish() } }
        let exit = container.describeExit(status)
        return status & 0x7F == 0 ? .exited(exit.exitCode) : .signaled(status & 0x7F, reason: exit.text)
    }

    func kill() async {
        let container = self.container
        await Blocking.run { try? container.kill() }
    }

    func finalFigures() -> BackendFigures {
        let stats = container.stats()
        lock.withLock { self.stats = stats }
        var secondary: [ResourceFigure] = []
        if let peak = stats.memoryPeakBytes {
            secondary.append(ResourceFigure(name: "cgroup_peak", value: Double(peak) / 1_048_576, unit: "MiB",
                                            instrument: container.cgroups.memoryPeakInstrument))
        }
        return BackendFigures(cpuNs: stats.cpuUsageNs, cpuInstrument: container.cgroups.cpuInstrument, secondary: secondary)
    }

    /// The image's rootfs; the run directory (its mount point), its state file and its volume.
    func diskPaths() -> (image: [String], instance: [String]) {
        (image: [container.spec.rootfs], instance: container.ownPaths + (volumeDirectory.map { [$0] } ?? []))
    }

    /// The cgroup's counters read at the end (after `finalFigures`).
    var lastStats: CgroupStats? { lock.withLock { stats } }

    func teardown() async throws {
        let container = self.container
        try await Blocking.run { try container.destroy() }
        if let relay { await Blocking.run { relay.finish() } }
        let closeOutput = lock.withLock { () -> Bool in
            defer { outputClosed = true }
            return !outputClosed
        }
        if closeOutput, let outputFD { close(outputFD) }
        if let volumeDirectory { try FileSystem.removeTree(volumeDirectory) }
    }
}
