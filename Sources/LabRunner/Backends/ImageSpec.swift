import LabContainer
import LabCore
import LabImage
import LabModel
import LabVirt
import LabWire

extension ContainerSpec {
    /// Sets what the image decides: its tree (a flat `rootfs/`, or an OCI
    /// image's layers under an overlay), its environment over the default,
    /// its working directory and user; and, for an image without the lab's
    /// agent (every OCI image), the agent at `agent` injected read-only.
    public mutating func use(_ record: ImageStore.Record, agent: String?) throws {
        let config = record.manifest.config
        rootfs = record.rootfs
        lowerDirectories = record.lowerDirectories ?? []
        if record.manifest.agentProtocolVersion == nil { injectedAgent = agent }
        environment = ContainerSpec.defaultEnvironment.filter { entry in
            !config.env.keys.contains { entry.hasPrefix($0 + "=") }
        } + config.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        workdir = config.workdir
        user = try config.user.map { try resolveUser($0) }
    }

    /// The agent's command in this spec's image: its own, or the injected one.
    public var agentCommand: String { injectedAgent != nil ? Self.injectedAgentPath : "/sbin/isolab-agent" }
}

extension VMBackend {
    /// The guest that boots `record`: a built image's initramfs with the
    /// lab's kernel; a whole-OS image's own kernel, initrd and disk; an OCI
    /// image's disk (made once per digest) with the lab's kernel and agent
    /// initramfs, its config for a command run in it.
    public static func forImage(_ record: ImageStore.Record, connection: LibvirtConnection, kernel: GuestKernel, settings: Scenario.VMSettings,
                                accelerator: Accelerator, paths: LabPaths, agent: String) throws -> VMBackend {
        if let os = record.manifest.os, let kernelPath = record.kernel, let disk = record.disk {
            var backend = VMBackend(connection: connection, kernel: GuestKernel(path: kernelPath, version: os.kernelRelease, sizeBytes: os.kernelBytes),
                                    initramfs: record.initramfs, settings: settings, accelerator: accelerator, paths: paths)
            backend.osDisk = disk
            return backend
        }
        guard record.manifest.oci != nil else {
            return VMBackend(connection: connection, kernel: kernel, initramfs: record.initramfs, settings: settings, accelerator: accelerator, paths: paths)
        }
        var backend = VMBackend(connection: connection, kernel: kernel, initramfs: try GuestModules.agentInitramfs(agent: agent, kernel: kernel, paths: paths),
                                settings: settings, accelerator: accelerator, paths: paths)
        backend.imageDisk = try OCIDisk.disk(for: record, paths: paths).path
        // The same environment, working directory and user a container of the image gets.
        var spec = ContainerSpec(rootfs: record.rootfs, command: [], capabilities: 0)
        try spec.use(record, agent: agent)
        backend.imageProgram = KernelCommandLine.Settings.Exec(argv: [], environment: spec.environment, workdir: spec.workdir,
                                                               user: spec.user.map { "\($0.uid):\($0.gid)" })
        return backend
    }
}
