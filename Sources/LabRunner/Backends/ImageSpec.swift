import LabContainer
import LabCore
import LabImage
import LabModel

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
