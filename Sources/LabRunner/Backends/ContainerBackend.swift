import Foundation
import LabWire
import LabContainer
import LabCore
import LabModel

/// The lab's own container: every instance a new `Container` with the
/// same configuration. With `system`, a system container: the image's
/// systemd as PID 1 on an overlay of its own, the agent a service, the
/// console a pty the lab reads (docs/full-os.md).
public struct ContainerBackend: Backend {
    public private(set) var kind = BackendKind.container
    public var system = false {
        didSet { kind = system ? .systemContainer : .container }
    }
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
        if system { return try await startSystem(request) }
        var spec = template
        spec.id = InstanceID.next()
        if template.hostname == template.id { spec.hostname = spec.id }
        switch request.program {
        case .agent(let arguments): spec.command = [spec.agentCommand, "run"] + arguments
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

extension ContainerBackend {
    /// `/sbin/init isolab.run=...` as PID 1, with nspawn's capabilities,
    /// no seccomp filter (systemd's units unshare namespaces of their own),
    /// the console a pty whose master is the instance's output.
    func startSystem(_ request: InstanceRequest) async throws -> ContainerInstance {
        guard case .agent(let arguments) = request.program, request.output == .capture, request.volume == nil else {
            throw LabError(.invalidInput, "a system container runs the image's agent as a service: give a workload, no command, terminal or volume")
        }
        var spec = template
        spec.id = InstanceID.next()
        spec.hostname = spec.id
        // systemd reads its own arguments as a kernel command line; the agent reads them back from /proc/1/cmdline.
        spec.command = ["/sbin/init", "isolab.run=" + PercentEncoding.encodeField(arguments.joined(separator: " "))]
        spec.environment = ContainerSpec.SystemContainer.environment
        // nspawn's set, less what the lab itself does not hold (a sandboxed lab may lack CAP_SYS_RESOURCE).
        let held = Set(try Capabilities.effective().map { $0.lowercased() })
        spec.capabilities = try ContainerSpec.SystemContainer.capabilityNames.filter { held.contains($0.lowercased()) }
            .reduce(UInt64(0)) { $0 | (1 << UInt64(try Capabilities.value(of: $1))) }
        spec.seccomp = .unconfined
        // dbus raises its descriptor limit to 65536; a hard limit of 1024
        // refuses it. As nspawn does, up to 524288: no more than the lab's
        // own hard limit (raising it needs CAP_SYS_RESOURCE, which a
        // sandboxed lab may lack).
        var own = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &own)
        spec.rlimits = [(Int32(RLIMIT_NOFILE.rawValue), 1024, min(524_288, UInt64(own.rlim_max)))]
        let (master, slave) = try Descriptors.pseudoTerminal()
        guard let console = FileSystem.readLink("/proc/self/fd/\(slave)") else {
            close(master); close(slave)
            throw LabError.syscall("find the console pty's name")
        }
        spec.system = ContainerSpec.SystemContainer(console: console)
        (spec.stdin, spec.stdout, spec.stderr) = (slave, slave, slave)
        let (layout, paths) = (self.layout, self.paths)
        let frozen = spec
        let created: Container
        do {
            created = try await Blocking.run { try Container.create(frozen, layout: layout, paths: paths) }
        } catch {
            close(master); close(slave)
            throw error
        }
        // The master is read until PID 1 has exited: systemd blocks on a
        // console nobody drains. The lab keeps a slave open until then, since
        // systemd closes and reopens the console as it starts, and a master
        // with no slave open reads as the end (EIO).
        let pidfd = Descriptors.processFD(created.pid)
        if pidfd >= 0 {
            let heldSlave = slave
            Thread.detachNewThread {
                var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                while poll(&entry, 1, -1) < 0 && errno == EINTR {}
                close(pidfd)
                close(heldSlave)
            }
        } else {
            close(slave)
        }
        return ContainerInstance(container: created, outputFD: master, kind: .systemContainer)
    }
}

/// A started `Container` behind the `Instance` protocol.
final class ContainerInstance: Instance, @unchecked Sendable {
    let container: Container
    let outputFD: Int32?
    let kind: BackendKind
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

    init(container: Container, outputFD: Int32?, kind: BackendKind = .container) {
        self.container = container
        self.outputFD = outputFD
        self.kind = kind
    }

    func mark(_ phase: String, at ns: UInt64) { container.mark(phase, at: ns) }

    func hostProcesses() -> [pid_t] { container.cgroups.processes() }

    var mainPID: pid_t? { container.pid }
    var rootPath: String? { "/proc/\(container.pid)/root" }
    var cgroup: (any InstanceCgroup)? { ContainerGroup(instance: self) }

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

    /// The image's tree (its rootfs, or its layers: paid once); the run
    /// directory (its mount point and, for an overlay root, its upper
    /// layer), its state file and its volume.
    func diskPaths() -> (image: [String], instance: [String]) {
        (image: container.spec.imageTrees.map { FileSystem.realPath($0) ?? $0 }, instance: container.ownPaths + (volumeDirectory.map { [$0] } ?? []))
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

/// A container's control group, through its instance.
struct ContainerGroup: InstanceCgroup {
    let instance: ContainerInstance

    var directories: [String] { instance.container.cgroups.directories }
    func processes() -> [pid_t] { instance.container.cgroups.processes() }
    func stats() -> CgroupStats { instance.container.stats() }
    func freeze() throws { try instance.container.freeze() }
    func thaw() throws { try instance.container.thaw() }
    var statsAtExit: CgroupStats? { instance.lastStats }
}
