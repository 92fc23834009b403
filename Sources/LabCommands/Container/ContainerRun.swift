import ArgumentParser
import Foundation
import LabContainer
import LabCore
import LabImage
import LabModel
import LabRunner

/// `isolab container run [options] -- CMD [ARGS...]`.
struct ContainerRun: AsyncParsableCommand, WritesLabState {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in a new container with the terminal's stdio; exit with its status.",
        discussion: """
            The container gets new PID, mount, UTS, IPC, network and cgroup namespaces, the image's \
            rootfs read-only as its root, its own /proc (runc's paths masked or read-only), /dev, /tmp \
            and /run (nodev), only lo in its network, runc's default capabilities and device rules, \
            a seccomp filter with the intent of Docker's default, no_new_privs, a session of its own, \
            and cgroups isolab/<id> with the limits given. On a terminal it gets a pty of its own \
            (raw mode, the window size relayed; Ctrl-C reaches the container), never the host's \
            terminal; otherwise pipes. Without a command it runs the image's entrypoint. An \
            instance killed by the memory limit exits with 137.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Image name or digest prefix (default: the built-in busybox image, built if missing); an imported OCI image runs on its layers.")
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

    @Option(help: "The seccomp profile: default (Docker's intent: no module loading, kexec, bpf, keyring, mount, ...) or unconfined.")
    var seccomp: Seccomp.Profile = .default

    @Flag(help: "Also give the container a user namespace (root inside is uid 100000 outside).")
    var userns = false

    @Flag(help: "Print the phase durations of the start and teardown afterwards (on stderr).")
    var timeline = false

    @Option(parsing: .unconditional, help: "Seconds after which the container is ended (default: none; Ctrl-C ends it).")
    var timeout: Double?

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    /// Bad input is checked here rather than in validate(): argument-parser
    /// follows a validation error with the usage and exits 64, and the lab's
    /// bad input is one line with exit status 2.
    func checkInput() throws {
        if let cpus, !(cpus.isFinite && InputRanges.cpus.contains(cpus)) {
            throw LabError(.invalidInput, "--cpus \(cpus) must be a number of CPUs between 0.01 and 1024, e.g. 0.5")
        }
        try InputRanges.check(cpuWeight, InputRanges.cpuWeight, option: "--cpu-weight")
        try InputRanges.check(pids, InputRanges.pids, option: "--pids")
        if let timeout, !(timeout > 0 && timeout <= 1e6) {
            throw LabError(.invalidInput, "--timeout \(timeout) must be a number of seconds above 0")
        }
        if let hostname, hostname.isEmpty || hostname.utf8.count > 64 {
            throw LabError(.invalidInput, "--hostname must be 1 to 64 characters")
        }
    }

    func run() async throws {
        if asksForHelp(command) { throw CleanExit.helpRequest(Self.self) }
        try checkInput()
        _ = global.bootstrapLogging()
        let limits = try ContainerOptions.limits(memory: memory, cpus: cpus, cpuWeight: cpuWeight, pids: pids)
        let capabilities = try Capabilities.set(adding: capAdd, dropping: capDrop)
        try Container.requireRoot()
        let record = try ContainerImage.resolve(image)
        StartTrace.mark("image")
        let layout = try CgroupLayout.detectHost()
        StartTrace.mark("layout")
        var arguments = command.first == "--" ? Array(command.dropFirst()) : command
        if arguments.isEmpty { arguments = record.manifest.config.entrypoint }
        guard !arguments.isEmpty else {
            throw LabError(.invalidInput, "image '\(record.manifest.name)' has no Entrypoint or Cmd; give the command after --")
        }
        var template = ContainerSpec(rootfs: record.rootfs, command: arguments, hostname: hostname, limits: limits,
                                     capabilities: capabilities.mask, userNamespace: userns)
        try template.use(record, agent: record.manifest.oci == nil ? nil : try ImageBuilder.defaultAgentPath())
        template.seccomp = seccomp
        // The command is checked before anything is made: a missing one is bad input.
        _ = try template.resolveCommand()

        CleanupRegistry.shared.installSignalHandlers()
        // No figures to report: neither memory samples nor the disk walk on the user's time.
        var request = InstanceRequest(.command(arguments), output: .terminal, timeout: timeout)
        request.sampleMemory = false
        request.measureDisk = false
        StartTrace.mark("instance")
        let outcome = try await InstanceRun.run(ContainerBackend(template: template, layout: layout), request)
        StartTrace.mark("instance_done")
        CleanupRegistry.shared.parkIfInterrupted()
        if timeline {
            FileOutput.standardError("container \(outcome.id): \(outcome.exit.text)\n" + outcome.timeline.render())
        }
        if case .signaled = outcome.exit {
            FileOutput.standardError("isolab: container \(outcome.id) \(outcome.exit.text)\n")
        }
        if outcome.exit.code != 0 {
            throw ExitCode(outcome.exit.code)
        }
    }
}

/// Options shared by the commands that start containers.
enum ContainerOptions {
    /// The smallest memory limit the lab accepts: below it nothing starts
    /// (the kernel would accept a page, but the agent alone needs more).
    static let minimumMemory: UInt64 = InputRanges.containerMemory.lowerBound

    static func limits(memory: String?, cpus: Double?, cpuWeight: Int?, pids: Int?) throws -> CgroupLimits {
        var limits = CgroupLimits(cpus: cpus, cpuWeight: cpuWeight, pids: pids)
        if let memory {
            let bytes = try ByteSize.parse(memory, what: "--memory")
            guard bytes >= minimumMemory else {
                throw LabError(.invalidInput, "--memory \(memory) is below the smallest limit a container can start in (4M)")
            }
            guard bytes <= InputRanges.containerMemory.upperBound else {
                throw LabError(.invalidInput, "--memory \(memory) is above the largest limit the lab accepts (1T)")
            }
            limits.memoryBytes = bytes
        }
        return limits
    }

}

/// The image a command runs: the named one, or the built-in busybox image.
enum ContainerImage {
    /// The named image, or the built-in busybox image (built on first use).
    /// The built-in image is built, or found unchanged by its input
    /// fingerprint (a few ms), so that it always holds this lab's agent.
    /// An unknown name is bad input (exit 2).
    static func resolve(_ reference: String?) throws -> ImageStore.Record {
        var store = ImageStore(paths: .fromEnvironment())
        store.readsFileLists = false  // a container starts from rootfs/ and the config
        // An OCI image the lab makes (layered, busybox-oci, debian-oci): made or found.
        if let reference, BuiltinOCI.names.contains(reference),
           let record = try BuiltinOCI.build(reference, builder: ImageBuilder(store: store, agentPath: try ImageBuilder.defaultAgentPath())) {
            return record
        }
        if let reference, ImageDefinition.builtin(reference) == nil {
            do {
                return try store.resolve(reference)
            } catch let error as LabError where error.code == .notFound {
                throw LabError(.invalidInput, error.message)
            }
        }
        let builder = ImageBuilder(store: store, agentPath: try ImageBuilder.defaultAgentPath())
        return try builder.build(ImageDefinition.builtin(reference ?? "busybox") ?? .builtinBusybox).record
    }
}
