import Foundation
import LabCore
import LabModel
import LabVirt
import LabWire

/// The image as a libvirt guest: direct kernel boot of the guest kernel
/// with the image's initramfs, the agent as its init; or (`os-vm`) a
/// whole-OS image's own kernel and initrd with its disk as the root,
/// systemd as init and the agent a service (docs/full-os.md).
public struct VMBackend: Backend {
    public private(set) var kind = BackendKind.vm
    /// A whole-OS image's disk (qcow2): the guest boots it through an overlay of its own.
    public var osDisk: String? {
        didSet { kind = osDisk == nil ? .vm : .osVM }
    }
    /// An OCI image's disk: the agent initramfs makes it the root (`initramfs`
    /// is then the lab's agent initramfs, not the image's).
    public var imageDisk: String?
    /// What a command run in the image gets: its environment, working
    /// directory and `uid:gid` (an OCI image's config).
    public var imageProgram = KernelCommandLine.Settings.Exec(argv: [])
    public var connection: LibvirtConnection
    public var kernel: GuestKernel
    public var initramfs: String
    public var settings: Scenario.VMSettings
    public var accelerator: Accelerator
    public var guestAccelerator: Accelerator? { accelerator }
    public var paths: LabPaths
    /// Host CPUs for the vCPUs and QEMU's threads: the budget a pinned
    /// container or process gets (nil: anywhere).
    public var cpuset: [Int]?

    public init(connection: LibvirtConnection, kernel: GuestKernel, initramfs: String, settings: Scenario.VMSettings,
                accelerator: Accelerator, paths: LabPaths = .fromEnvironment()) {
        self.connection = connection
        self.kernel = kernel
        self.initramfs = initramfs
        self.settings = settings
        self.accelerator = accelerator
        self.paths = paths
    }

    public func start(_ request: InstanceRequest) async throws -> any Instance {
        var arguments: [String] = []
        var exec: KernelCommandLine.Settings.Exec?
        switch request.program {
        case .agent(let workload): arguments = workload
        case .command(let argv):
            // A program of the image's, through the agent: only a guest that boots the image's own tree has one.
            guard imageDisk != nil else {
                throw LabError(.invalidInput, "a VM of a built image runs the agent's workloads only: give a workload, not a command (an imported OCI image runs commands)")
            }
            guard !argv.isEmpty, !argv.contains(where: \.isEmpty) else {
                throw LabError(.invalidInput, "a guest's command takes no empty argument (the kernel command line carries it)")
            }
            exec = imageProgram
            exec?.argv = argv
        }
        guard request.output == .capture else {
            throw LabError(.invalidInput, "a VM's output is its console, which the lab reads: it cannot be the terminal")
        }
        var spec = VMSpec(kernel: kernel, initramfs: initramfs, workload: arguments)
        spec.exec = exec
        spec.imageDisk = imageDisk
        if imageDisk != nil {
            spec.modules = GuestModules.pathsInGuest
            if request.volume != nil {
                throw LabError(.invalidInput, "a guest of an OCI image takes no volume in this version of the lab (its disk is vda)")
            }
        }
        spec.memoryMiB = settings.memoryMiB
        spec.vcpus = settings.vcpus
        spec.machine = settings.machine
        spec.accelerator = accelerator
        spec.bootTimeout = request.timeout ?? settings.bootTimeout
        spec.paths = paths
        spec.cpuset = cpuset
        spec.tbCacheMiB = settings.tbCacheMiB
        spec.osDisk = osDisk
        if osDisk != nil, request.volume != nil {
            throw LabError(.invalidInput, "a whole-OS guest takes no volume in this version of the lab")
        }
        if let volume = request.volume {
            guard volume.path == VMSpec.volumePath else {
                throw LabError(.invalidInput, "a guest's volume is mounted at \(VMSpec.volumePath), not \(volume.path)")
            }
            spec.volumeBytes = volume.sizeBytes
            spec.modules = GuestModules.pathsInGuest
            spec.initramfs = try GuestModules.initramfs(appendingTo: initramfs, kernel: kernel, paths: paths)
        }
        let deadline = MonotonicClock.now() + UInt64(min(spec.bootTimeout, 1e6) * 1e9)
        let machine = try await VirtualMachine.start(spec, connection: connection, deadline: deadline)
        return VMInstance(machine: machine, kind: kind)
    }
}

/// A started `VirtualMachine` behind the `Instance` protocol.
final class VMInstance: Instance, @unchecked Sendable {
    let machine: VirtualMachine
    let kind: BackendKind
    private let lock = NSLock()
    private var lastProcesses: [pid_t] = []

    var id: String { machine.spec.id }
    var outputFD: Int32? { machine.consoleFD }
    var accelerator: Accelerator? { machine.spec.accelerator }
    var timeline: Timeline { machine.timeline }

    init(machine: VirtualMachine, kind: BackendKind = .vm) {
        self.machine = machine
        self.kind = kind
    }

    func mark(_ phase: String, at ns: UInt64) {
        // The reader's first byte is the console's.
        machine.mark(phase == "first_byte" ? "first_console_byte" : phase, at: ns)
    }

    func hostProcesses() -> [pid_t] { machine.hostProcesses() }

    func waitForExit(until deadline: UInt64) async -> InstanceExit? {
        await machine.waitForStop(until: deadline) == nil ? nil : .poweredOff
    }

    func kill() async { await machine.destroy() }

    func finalFigures() -> BackendFigures {
        // QEMU is gone once the guest is: its CPU time is the sampler's last
        // reading (MemoryFigures.lastCPUNs), taken by the runner.
        BackendFigures(cpuNs: nil, cpuInstrument: "QEMU's /proc/PID/stat utime + stime, last sampled before it exited",
                       secondary: [ResourceFigure(name: "guest_ram", value: Double(machine.spec.memoryMiB), unit: "MiB", instrument: "the guest's configured RAM")])
    }

    /// The kernel and the initramfs it booted; its directory (console socket, any disk) and state file.
    func diskPaths() -> (image: [String], instance: [String]) {
        (image: [machine.spec.kernel.path, machine.spec.initramfs] + ((machine.spec.osDisk ?? machine.spec.imageDisk).map { [$0] } ?? []),
         instance: machine.ownPaths)
    }

    func teardown() async throws { await machine.teardown() }
}
