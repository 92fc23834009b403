import ArgumentParser
import Foundation
import LabContainer
import LabCore
import LabImage

/// `isolab container run [options] -- CMD [ARGS...]`.
struct ContainerRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in a new container with the terminal's stdio; exit with its status.",
        discussion: """
            The container gets new PID, mount, UTS, IPC, network and cgroup namespaces, the image's \
            rootfs read-only as its root, its own /proc, /dev, /tmp and /run, only lo in its network, \
            runc's default capabilities, and cgroups isolab/<id> with the limits given. Without a \
            command it runs the image's entrypoint. An instance killed by the memory limit exits \
            with 137.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Image name or digest prefix (default: the built-in busybox image, built if missing).")
    var image: String?

    // .unconditional: a negative value is the user's mistake to report, not another flag.
    @Option(parsing: .unconditional, help: "Memory limit, e.g. 64M (no swap).")
    var memory: String?

    @Option(parsing: .unconditional, help: "CPU quota in CPUs, e.g. 0.5.")
    var cpus: Double?

    @Option(name: .customLong("cpu-weight"), parsing: .unconditional, help: "CPU priority, 1-10000 (default 100); v1 hosts get cpu.shares.")
    var cpuWeight: Int?

    @Option(parsing: .unconditional, help: "Maximum number of processes.")
    var pids: Int?

    @Option(help: "Hostname (default: the container's id).")
    var hostname: String?

    @Option(name: .customLong("cap-add"), help: "Add a capability to the default set (repeatable; ALL).")
    var capAdd: [String] = []

    @Option(name: .customLong("cap-drop"), help: "Drop a capability from the default set (repeatable; ALL).")
    var capDrop: [String] = []

    @Flag(help: "Also give the container a user namespace (root inside is uid 100000 outside).")
    var userns = false

    @Flag(help: "Print the phase durations of the start and teardown afterwards (on stderr).")
    var timeline = false

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    /// Bad input is checked here rather than in validate(): argument-parser
    /// follows a validation error with the usage and exits 64, and the lab's
    /// bad input is one line with exit status 2.
    func checkInput() throws {
        if let cpus, !(cpus > 0 && cpus <= 1024) {
            throw LabError(.invalidInput, "--cpus \(cpus) must be a number of CPUs above 0, e.g. 0.5")
        }
        if let cpuWeight, !(1...10_000).contains(cpuWeight) {
            throw LabError(.invalidInput, "--cpu-weight \(cpuWeight) must be between 1 and 10000")
        }
        if let pids, pids < 1 {
            throw LabError(.invalidInput, "--pids \(pids) must be at least 1")
        }
        if let hostname, hostname.isEmpty || hostname.utf8.count > 64 {
            throw LabError(.invalidInput, "--hostname must be 1 to 64 characters")
        }
    }

    func run() throws {
        try checkInput()
        _ = global.bootstrapLogging()
        let limits = try ContainerOptions.limits(memory: memory, cpus: cpus, cpuWeight: cpuWeight, pids: pids)
        let capabilities = try Capabilities.set(adding: capAdd, dropping: capDrop)
        guard geteuid() == 0 || userns else {
            throw LabError(.invalidInput, "containers need root (namespaces, mounts, cgroups); run as root, or pass --userns")
        }
        let record = try ContainerImage.resolve(image)
        let layout = try CgroupLayout.detectHost()
        let config = record.manifest.config
        var arguments = command.first == "--" ? Array(command.dropFirst()) : command
        if arguments.isEmpty { arguments = config.entrypoint }
        var spec = ContainerSpec(
            rootfs: record.rootfs, command: arguments,
            environment: ContainerSpec.defaultEnvironment.filter { entry in
                !config.env.keys.contains { entry.hasPrefix($0 + "=") }
            } + config.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
            workdir: config.workdir, hostname: hostname, limits: limits, capabilities: capabilities.mask, userNamespace: userns)
        spec.stdin = 0
        spec.stdout = 1
        spec.stderr = 2

        CleanupRegistry.shared.installSignalHandlers()
        let container = try Container.create(spec, layout: layout)
        let status = container.wait()
        CleanupRegistry.shared.parkIfInterrupted()
        let outcome = container.describeExit(status)
        try container.destroy()
        if timeline {
            FileOutput.standardError("container \(spec.id): \(outcome.text)\n" + container.timeline.render())
        }
        if outcome.text.hasPrefix("killed") {
            FileOutput.standardError("isolab: container \(spec.id) \(outcome.text)\n")
        }
        if outcome.exitCode != 0 {
            throw ExitCode(outcome.exitCode)
        }
    }
}

/// Options shared by the commands that start containers.
enum ContainerOptions {
    /// The smallest memory limit the lab accepts: below it nothing starts
    /// (the kernel would accept a page, but the agent alone needs more).
    static let minimumMemory: UInt64 = 4 << 20

    static func limits(memory: String?, cpus: Double?, cpuWeight: Int?, pids: Int?) throws -> CgroupLimits {
        var limits = CgroupLimits(cpus: cpus, cpuWeight: cpuWeight, pids: pids)
        if let memory {
            let bytes = try ByteSize.parse(memory, what: "--memory")
            guard bytes >= minimumMemory else {
                throw LabError(.invalidInput, "--memory \(memory) is below the smallest limit a container can start in (4M)")
            }
            limits.memoryBytes = bytes
        }
        return limits
    }

}

/// The image a command runs: the named one, or the built-in busybox image.
enum ContainerImage {
    /// The named image, or the built-in busybox image (built on first use).
    static func resolve(_ reference: String?) throws -> ImageStore.Record {
        let store = ImageStore(paths: .fromEnvironment())
        if let reference { return try store.resolve(reference) }
        if let record = try? store.resolve("busybox") { return record }
        let builder = ImageBuilder(store: store, agentPath: try ImageBuilder.defaultAgentPath())
        return try builder.build(.builtinBusybox).record
    }
}
