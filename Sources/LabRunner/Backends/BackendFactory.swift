import Foundation
import LabContainer
import LabCore
import LabDoctor
import LabImage
import LabModel
import LabVirt
import LabWire
import Logging

/// Every backend a scenario names, built in one place from one resolved
/// configuration: the image (built, found, or an imported OCI image), the
/// CPU budget, the limits, and the guest's kernel and accelerator, decided
/// once for every VM-like backend. Everything that can fail on bad input
/// fails in `init` or `make`, before any trial.
final class BackendFactory {
    let scenario: Scenario
    let scenarioFile: String
    let paths: LabPaths
    let libvirtURI: String
    let logger: Logger
    let progress: @Sendable (String, Bool) -> Void
    let store: ImageStore
    let builder: ImageBuilder
    /// The scenario's image.
    let image: ImageStore.Record
    let layout: CgroupLayout
    /// Equal budgets: every backend on the same (last) host CPUs.
    let budget: [Int]?
    /// The guest's kernel and accelerator, decided once for the VM and the qemu peer.
    private(set) var kernel: GuestKernel?
    private(set) var decision: AcceleratorDecision?
    private(set) var kvmVerdict: AcceleratorVerdict?
    private var connection: LibvirtConnection?
    private var osImageRecord: ImageStore.Record?

    init(scenario: Scenario, file: String, paths: LabPaths, libvirtURI: String, logger: Logger,
         progress: @escaping @Sendable (String, Bool) -> Void) throws {
        self.scenario = scenario
        scenarioFile = file
        self.paths = paths
        self.libvirtURI = libvirtURI
        self.logger = logger
        self.progress = progress
        store = ImageStore(paths: paths)
        builder = ImageBuilder(store: store, agentPath: try ImageBuilder.defaultAgentPath())
        image = try Self.resolveImage(scenario.image, file: file, store: store, builder: builder, progress: progress)
        // An OCI image gets the lab's agent injected; a built one must hold this lab's.
        guard image.manifest.oci != nil || image.manifest.agentProtocolVersion == AgentProtocol.version else {
            throw LabError(.invalidInput, "image \(image.manifest.name) has no agent of protocol \(AgentProtocol.version); it must include the agent (agent: true)")
        }
        layout = try CgroupLayout.detectHost()
        if let cpus = scenario.cpus {
            let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            guard cpus <= online else {
                throw LabError(.invalidInput, "\(file): cpus: \(cpus), but this host has \(online) CPU(s)")
            }
            budget = Array((online - cpus)..<online)
        } else {
            budget = nil
        }
    }

    static func resolveImage(_ reference: Scenario.ImageChoice, file: String, store: ImageStore, builder: ImageBuilder,
                             progress: @Sendable (String, Bool) -> Void) throws -> ImageStore.Record {
        switch reference {
        case .inline(let definition):
            let built = try builder.build(definition)
            for warning in built.warnings { progress("warning: \(warning)", false) }
            return built.record
        case .named(let name):
            if let builtin = ImageDefinition.builtin(name) { return try builder.build(builtin).record }
            if let made = try BuiltinOCI.build(name, builder: builder) { return made }
            do {
                return try store.resolve(name)
            } catch let error as LabError where error.code == .notFound {
                throw LabError(.invalidInput, "\(file): \(error.message)")
            }
        }
    }

    /// The tree the checks start their containers and controls from: the
    /// scenario's built image, or (an OCI image has no flat tree with the
    /// agent) the built-in busybox image. The checks are about the lab's
    /// isolation, not about the image.
    func checksRootfs() throws -> String {
        if image.manifest.oci == nil { return image.rootfs }
        return try builder.build(.builtinBusybox).record.rootfs
    }

    var limits: CgroupLimits {
        CgroupLimits(memoryBytes: scenario.limits.memoryBytes, cpus: scenario.limits.cpus, cpuWeight: scenario.limits.cpuWeight, pids: scenario.limits.pids)
    }

    /// The guest's kernel, accelerator and libvirt connection (probing KVM once if this host has no verdict yet).
    func vmParts() async throws -> (GuestKernel, AcceleratorDecision, LibvirtConnection) {
        if let kernel, let decision, let connection { return (kernel, decision, connection) }
        let guest = try GuestKernel.find(paths: paths).get()
        var doctorOptions = Doctor.Options()
        doctorOptions.libvirtURI = libvirtURI
        doctorOptions.paths = paths
        progress("deciding the VM accelerator (probing KVM once if this host has no verdict yet)", true)
        let (choice, verdict) = try Doctor(options: doctorOptions, logger: logger).acceleratorDecision(scenario.vm.accel, kernel: guest)
        let opened = try await LibvirtConnection.open(uri: libvirtURI)
        (kernel, decision, kvmVerdict, connection) = (guest, choice, verdict, opened)
        return (guest, choice, opened)
    }

    /// The whole-OS image, built (or found) once for the system container and the os-vm.
    func osImage() throws -> ImageStore.Record {
        if let osImageRecord { return osImageRecord }
        let record: ImageStore.Record
        if let builtin = ImageDefinition.builtin(scenario.osImage), builtin.base == .debian {
            progress("finding or building the \(scenario.osImage) image (about a minute the first time: mmdebstrap; a few seconds for a new agent)", true)
            record = try builder.build(builtin).record
        } else {
            do {
                record = try store.resolve(scenario.osImage)
            } catch let error as LabError where error.code == .notFound {
                throw LabError(.invalidInput, "\(scenarioFile): os_image: \(error.message)")
            }
        }
        guard record.manifest.os != nil else {
            throw LabError(.invalidInput, "\(scenarioFile): os_image: \(scenario.osImage) is not a whole-OS image (base: debian)")
        }
        osImageRecord = record
        return record
    }

    /// The backend of `kind`, or why it cannot run here (a peer that is
    /// missing or fails its one trial run: skipped, with its reason).
    func make(_ kind: BackendKind) async throws -> Result<any Backend, LabError> {
        var settings = scenario.vm
        if let budget { settings.vcpus = budget.count }
        switch kind {
        case .systemContainer:
            var template = ContainerSpec(rootfs: try osImage().rootfs, command: [], limits: limits, capabilities: 0)
            template.cpuAffinity = budget
            var system = ContainerBackend(template: template, layout: layout, paths: paths)
            system.system = true
            return .success(system)
        case .osVM:
            let (guest, choice, connection) = try await vmParts()
            var vm = try VMBackend.forImage(try osImage(), connection: connection, kernel: guest, settings: settings,
                                            accelerator: choice.accelerator, paths: paths, agent: builder.agentPath)
            vm.cpuset = budget
            return .success(vm)
        case .bare:
            // An OCI image has no agent of its own: the bare baseline runs the lab's.
            var bare = BareBackend(agent: image.manifest.oci == nil ? image.rootfs + "/sbin/isolab-agent" : builder.agentPath)
            bare.cpuAffinity = budget
            bare.paths = paths
            return .success(bare)
        case .container:
            var template = ContainerSpec(rootfs: image.rootfs, command: [], limits: limits,
                                         capabilities: try Capabilities.set(adding: [], dropping: []).mask)
            try template.use(image, agent: builder.agentPath)
            template.cpuAffinity = budget
            template.seccomp = scenario.seccomp
            return .success(ContainerBackend(template: template, layout: layout, paths: paths))
        case .vm:
            let (guest, choice, connection) = try await vmParts()
            if image.manifest.oci != nil {
                progress("the VM disk of \(image.manifest.name): made once per image (mkfs.ext4 -d of its layers)", true)
            }
            var vm = try VMBackend.forImage(image, connection: connection, kernel: guest, settings: settings,
                                            accelerator: choice.accelerator, paths: paths, agent: builder.agentPath)
            vm.cpuset = budget
            return .success(vm)
        case .runc, .crun, .podman, .nspawn, .unshare, .qemu:
            guard image.manifest.oci == nil else {
                return .failure(LabError(.unsupported, "the peers run the lab's built images (a flat tree holding the agent); \(image.manifest.name) is an imported OCI image, which runs on the lab's own container and VM"))
            }
            // A peer: found and tried once; skipped with its reason if it cannot run here.
            var peerGuest: PeerBackend.Guest?
            if kind == .qemu {
                let (guest, choice, _) = try await vmParts()
                peerGuest = PeerBackend.Guest(kernel: guest, initramfs: image.initramfs, settings: scenario.vm, accelerator: choice.accelerator)
            }
            switch PeerBackend.find(kind, rootfs: image.rootfs, limits: limits, paths: paths, guest: peerGuest) {
            case .failure(let reason):
                return .failure(reason)
            case .success(var peer):
                peer.seccomp = scenario.seccomp
                progress("peer \(kind.rawValue): one trial run to see that it works here", true)
                if let reason = await peer.probe() { return .failure(reason) }
                return .success(peer)
            }
        }
    }
}
