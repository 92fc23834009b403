import LabWire
import Foundation
import LabContainer
import LabCore
import LabModel
import LabVirt

/// A peer: the same image's rootfs and agent, started by a tool people
/// use, finished by the same READY line, measured by the same instruments
/// (its launcher's process tree, and its daemonized helpers, for memory and
/// CPU). See docs/peers.md.
public struct PeerBackend: Backend {
    public let kind: BackendKind
    /// The tool's executable.
    public let tool: String
    public var rootfs: String
    /// The limits the lab's container gets, given to the peers that take them.
    public var limits: CgroupLimits
    public var seccomp: Seccomp.Profile = .default
    public var paths: LabPaths
    /// For `qemu`: what the libvirt guest boots with.
    public var guest: Guest?

    public struct Guest: Sendable {
        public var kernel: GuestKernel
        public var initramfs: String
        public var settings: Scenario.VMSettings
        public var accelerator: Accelerator

        public init(kernel: GuestKernel, initramfs: String, settings: Scenario.VMSettings, accelerator: Accelerator) {
            self.kernel = kernel
            self.initramfs = initramfs
            self.settings = settings
            self.accelerator = accelerator
        }
    }

    /// The Debian packages behind each peer, for the install hint.
    public static func package(of kind: BackendKind) -> String {
        switch kind {
        case .nspawn: "systemd-container"
        case .unshare: "util-linux"
        case .qemu: "qemu-system-x86"
        default: kind.rawValue
        }
    }

    static func executableName(of kind: BackendKind) -> String {
        switch kind {
        case .nspawn: "systemd-nspawn"
        case .qemu: "qemu-system-x86_64"
        default: kind.rawValue
        }
    }

    /// The peer on this host, or why not (missing: an install hint).
    public static func find(_ kind: BackendKind, rootfs: String, limits: CgroupLimits, paths: LabPaths, guest: Guest? = nil) -> Result<PeerBackend, LabError> {
        precondition(kind.isPeer)
        guard let tool = HostCommand.which(executableName(of: kind)) else {
            return .failure(LabError(.notFound, "\(executableName(of: kind)) is not installed: scripts/setup-host --peers installs it (apt-get install \(package(of: kind)))"))
        }
        if kind == .qemu && guest == nil { return .failure(LabError(.notFound, "qemu needs the guest kernel the VM backend boots")) }
        return .success(PeerBackend(kind: kind, tool: tool, rootfs: rootfs, limits: limits, paths: paths, guest: guest))
    }

    /// One run of the agent's `noop`: a peer that cannot run here (crun on a
    /// hybrid host) is skipped with its own error, never failing the run.
    public func probe() async -> LabError? {
        do {
            let outcome = try await InstanceRun.run(self, InstanceRequest(.agent(["noop"]), timeout: kind == .qemu ? 600 : 60))
            if outcome.ready == nil || outcome.exit.code != 0 {
                let said = outcome.output.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("ISOLAB") }.suffix(2).joined(separator: " | ")
                return LabError(.failed, "\(kind.rawValue) did not run the agent here (\(outcome.exit.text)): \(said.isEmpty ? "no output" : said)")
            }
            return nil
        } catch let error as LabError {
            return error
        } catch {
            return LabError(.failed, "\(error)")
        }
    }

    public func start(_ request: InstanceRequest) async throws -> any Instance {
        guard case .agent(let arguments) = request.program else {
            throw LabError(.invalidInput, "a peer runs the image's agent only: give a workload, not a command")
        }
        guard request.output == .capture, request.volume == nil else {
            throw LabError(.invalidInput, "a peer's output is captured, and peers get no volume")
        }
        let id = "isolab-peer-" + InstanceID.next()
        let agent = ["/sbin/isolab-agent", "run"] + arguments
        let directory = try paths.ensure(.peers) + "/" + id
        var argv: [String]
        var related: (@Sendable () -> [pid_t])?
        var cleanup: @Sendable () -> Void = { try? FileSystem.removeTree(directory) }
        switch kind {
        case .runc, .crun:
            let bundle = OCIBundle(rootfs: rootfs, arguments: agent, hostname: id, limits: limits,
                                   capabilities: Capabilities.defaultNames, seccomp: seccomp, cgroupsPath: "/" + Self.cgroupParent + "/" + id)
            try bundle.write(to: directory)
            let (tool, state) = (self.tool, directory + "/state")
            argv = [tool, "--root", state, "run", "--bundle", directory, id]
            cleanup = {
                // Gone already when the container ended by itself (runc run deletes it).
                _ = try? HostCommand.run(tool, ["--root", state, "delete", "--force", id], timeout: 10)
                Self.removeCgroups(id)
                try? FileSystem.removeTree(directory)
            }
        case .podman:
            argv = [tool, "--cgroup-manager=cgroupfs", "--events-backend=file", "run", "--rm", "--name", id, "--network", "none",
                    "--read-only", "--hostname", id, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
            if let runc = HostCommand.which("runc") { argv += ["--runtime", runc] }
            if let memory = limits.memoryBytes { argv += ["--memory", String(memory), "--memory-swap", String(memory)] }
            if let cpus = limits.cpus { argv += ["--cpus", String(cpus)] }
            if let pids = limits.pids { argv += ["--pids-limit", String(pids)] }
            argv += ["--rootfs", rootfs] + agent
            let tool = self.tool
            // conmon daemonizes: found by the container's name on its command line.
            related = { ProcessTree.processes(mentioning: id) }
            cleanup = {
                _ = try? HostCommand.run(tool, ["--cgroup-manager=cgroupfs", "--events-backend=file", "rm", "--force", "--ignore", id], timeout: 30)
            }
        case .nspawn:
            // No cgroup limits: without systemd as the host's init, nspawn cannot set them.
            argv = [tool, "-q", "--register=no", "--keep-unit", "--private-network", "--read-only", "--hostname", id, "-D", rootfs] + agent
        case .unshare:
            argv = [tool, "--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "--root=" + rootfs, "--mount-proc"] + agent
        case .qemu:
            guard let guest else { throw LabError(.invalidInput, "qemu needs the guest kernel") }
            let commandLine = VMSpec(kernel: guest.kernel, initramfs: guest.initramfs, workload: arguments).commandLine
            argv = [tool, "-machine", "\(guest.settings.machine.rawValue),accel=\(guest.accelerator.rawValue)", "-m", String(guest.settings.memoryMiB),
                    "-smp", String(guest.settings.vcpus), "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
                    "-no-reboot", "-kernel", guest.kernel.path, "-initrd", guest.initramfs, "-append", commandLine]
            if guest.accelerator == .tcg, let tb = guest.settings.tbCacheMiB { argv[2] += ",tb-size=\(tb)" }
        case .bare, .container, .vm, .systemContainer, .osVM:
            throw LabError(.invalidInput, "\(kind.rawValue) is not a peer")
        }
        let instance: BareInstance
        do {
            instance = try BareInstance.spawn(argv, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], output: .capture, mergeStderr: true)
        } catch {
            cleanup()
            throw error
        }
        instance.kind = kind
        instance.relatedProcesses = related
        instance.cleanup = cleanup
        instance.imagePaths = kind == .qemu ? [guest?.kernel.path, guest?.initramfs].compactMap { $0 } : [rootfs]
        instance.instancePaths = [directory]
        if kind == .qemu { instance.acceleratorOverride = guest?.accelerator }
        return instance
    }

    /// `$ISOLAB_HOME/run/peers`: bundles and runtime state, one directory per instance.
    public static func directory(_ paths: LabPaths) -> String { paths.path(.peers) }

    /// The cgroup parent of runc's and crun's containers (absolute, in every hierarchy).
    static let cgroupParent = "isolab-peers"

    /// Removes `isolab-peers/<id>` (runc removes the leaf on a clean exit,
    /// not after delete --force). The parent stays, as the lab's own
    /// `isolab/` does: making it again in every hierarchy cost each run
    /// time that runc run by hand does not pay (the hyperfine cross-check
    /// found it).
    static func removeCgroups(_ id: String) {
        for hierarchy in FileSystem.list("/sys/fs/cgroup") {
            for base in ["/sys/fs/cgroup/\(hierarchy)", "/sys/fs/cgroup"] {
                let parent = base + "/" + cgroupParent
                guard FileSystem.isDirectory(parent) else { continue }
                rmdir(parent + "/" + id)
            }
        }
    }
}
