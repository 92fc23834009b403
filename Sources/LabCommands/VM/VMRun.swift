import ArgumentParser
import Foundation
import LabWire
import LabCore
import LabDoctor
import LabImage
import LabModel
import LabRunner
import LabVirt

/// `isolab vm run [options] -- WORKLOAD [ARGS...]`, or `-- CMD [ARGS...]` in an OCI image.
struct VMRunCommand: AsyncParsableCommand, WritesLabState {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot the image as a transient guest, run the workload through the agent, power off.",
        discussion: """
            Direct kernel boot of the lab's guest kernel with the image's initramfs; the agent is the \
            guest's init and reads the workload from the kernel command line. The console is a Unix \
            socket the lab listens on before the domain starts. RESULT lines are printed as they \
            arrive; the exit status is the agent's. The domain is always destroyed. An imported OCI \
            image boots its layers as one ext4 disk (made once, then a qcow2 overlay per guest) with \
            the lab's kernel and agent; after -- a word that names no workload is a command of the \
            image, run with its Env, WorkingDir and User, its output relayed, its status the exit status.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Image name or digest prefix (default: the built-in busybox image, built if missing); a whole-OS image (debian) boots its own kernel and disk.")
    var image: String?

    @Option(parsing: .unconditional, help: "Guest memory, e.g. 256M.")
    var memory = "256M"

    @Option(parsing: .unconditional, help: "Virtual CPUs.")
    var vcpus = 1

    @Option(help: "Accelerator: auto (isolab doctor's verdict, else TCG), kvm or tcg.")
    var accel: AcceleratorRequest = .auto

    @Option(help: "Machine type: pc, q35 or microvm (where libvirt supports it).")
    var machine: MachineType = .pc

    @Option(name: .customLong("libvirt-uri"), help: "libvirt connection URI.")
    var libvirtURI = "qemu:///system"

    @Option(name: .customLong("boot-timeout"), parsing: .unconditional, help: "Seconds before an unfinished guest is destroyed.")
    var bootTimeout: Double = 120

    @Option(help: "The guest kernel (default: the one scripts/setup-host extracted).")
    var kernel: String?

    @Flag(help: "Print the phase durations afterwards (on stderr).")
    var timeline = false

    @Flag(help: "Show the guest console live (on stderr).")
    var console = false

    @Argument(parsing: .captureForPassthrough, help: "The workload and its parameters, as for isolab-agent run (after --); in an OCI image, a command.")
    var workload: [String] = []

    func checkInput() throws -> (memoryMiB: Int, workload: [String]) {
        let bytes = try ByteSize.parse(memory, what: "--memory")
        guard InputRanges.guestMemory.contains(bytes) else {
            throw LabError(.invalidInput, "--memory \(memory) must be between 64M and 1T (the guest kernel needs about 64M to boot)")
        }
        try InputRanges.check(vcpus, InputRanges.vcpus, option: "--vcpus")
        guard bootTimeout.isFinite, InputRanges.bootTimeout.contains(bootTimeout) else {
            throw LabError(.invalidInput, "--boot-timeout \(bootTimeout) must be between 1 and 3600 seconds")
        }
        var arguments = workload.first == "--" ? Array(workload.dropFirst()) : workload
        if arguments.isEmpty { arguments = ["noop"] }
        return (Int(bytes >> 20), arguments)
    }

    /// A workload for the agent, or (an OCI image's guest) a command of the
    /// image's when the first word names no workload.
    static func program(_ arguments: [String], record: ImageStore.Record) throws -> InstanceRequest.Program {
        if record.manifest.oci != nil, !WorkloadContracts.all.contains(where: { $0.name == arguments[0] }) {
            guard !arguments.contains(where: \.isEmpty) else {
                throw LabError(.invalidInput, "a guest's command takes no empty argument (the kernel command line carries it)")
            }
            return .command(arguments)
        }
        // The agent would refuse it after the boot; say so before.
        do {
            _ = try Invocation.parse(arguments)
        } catch {
            throw LabError(.invalidInput, error.error + (error.accepted.map { "; accepted: " + $0.joined(separator: ", ") } ?? ""))
        }
        return .agent(arguments)
    }

    func run() async throws {
        if asksForHelp(workload) { throw CleanExit.helpRequest(Self.self) }
        let input = try checkInput()
        let logger = global.bootstrapLogging()
        let paths = LabPaths.fromEnvironment()
        // A kernel the user named and that is not there is bad input, not a host to set up.
        let guestKernel = try (kernel.map { path in
            GuestKernel.at(path).mapError { _ in
                LabError(.invalidInput, "--kernel \(path): no such kernel file; give the path of a bzImage, or leave --kernel out for the one scripts/setup-host extracted")
            }
        } ?? GuestKernel.find(paths: paths)).get()
        let record = try ContainerImage.resolve(image)
        let program = try Self.program(input.workload, record: record)
        CleanupRegistry.shared.installSignalHandlers()
        var doctorOptions = LabDoctor.Doctor.Options()
        doctorOptions.libvirtURI = libvirtURI
        doctorOptions.paths = paths
        let (decision, _) = try LabDoctor.Doctor(options: doctorOptions, logger: logger).acceleratorDecision(accel, kernel: guestKernel)
        let connection = try await LibvirtConnection.open(uri: libvirtURI)
        var settings = Scenario.VMSettings()
        settings.memoryMiB = input.memoryMiB
        settings.vcpus = vcpus
        settings.machine = machine
        settings.bootTimeout = bootTimeout
        FileOutput.standardError("isolab: booting a guest with \(decision.reason)\n")
        let showConsole = console
        // A command's output is its own; the protocol's lines are the agent's, shown for workloads.
        let printer = LinePrinter(showsProtocol: { if case .agent = program { true } else { false } }())
        // A whole-OS image (--image debian) boots its own kernel, initrd and disk, systemd as init; an OCI image its disk.
        let backend = try VMBackend.forImage(record, connection: connection, kernel: guestKernel, settings: settings,
                                             accelerator: decision.accelerator, paths: paths, agent: try ImageBuilder.defaultAgentPath())
        var request = InstanceRequest(program, timeout: bootTimeout) { bytes in
            if showConsole { FileOutput.standardError(String(decoding: bytes, as: UTF8.self)) }
            printer.feed(bytes)
        }
        request.measureDisk = false  // --timeline shows memory and CPU, not disk
        let result = try await InstanceRun.run(backend, request)
        if timeline {
            var text = "vm isolab-\(result.id) (\(decision.accelerator.label)):\n" + result.timeline.render()
            if let uptime = result.ready?["uptime_ns"].flatMap(Double.init) {
                text += String(format: "guest uptime at READY: %.3f ms (kernel + init, by the guest's clock)\n", uptime / 1e6)
            }
            let memory = result.memory
            text += "QEMU: PSS at READY \(memory.pssAtReadyKiB.map { "\($0) KiB" } ?? "?"), peak RSS \(memory.rssPeakKiB.map { "\($0) KiB" } ?? "?"), "
                + "CPU \(result.figures.cpuNs.map { String(format: "%.3f s", Double($0) / 1e9) } ?? "?")\n"
            FileOutput.standardError(text)
        }
        guard let status = result.doneStatus else {
            throw LabError(.failed, "the guest powered off without the agent's DONE; last console lines: \(result.tail())")
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// Prints the agent's protocol lines (RESULT, ERROR, DONE) as they arrive.
final class LinePrinter: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [UInt8] = []
    let showsProtocol: Bool

    init(showsProtocol: Bool = true) { self.showsProtocol = showsProtocol }

    func feed(_ bytes: [UInt8]) {
        lock.withLock {
            pending += bytes
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                switch AgentLine.parse(line[...]) {
                case .output(let stream, let data):
                    // A command's own output, as it wrote it.
                    let fd: Int32 = stream == "stderr" ? 2 : 1
                    data.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
                case .error where !showsProtocol:
                    // Why a command did not run (not found, say), as the lab's own error line.
                    if let start = line.range(of: "ISOLAB ERROR "),
                       let error = try? JSONDecoder().decode(AgentError.self, from: Data(line[start.upperBound...].utf8)) {
                        FileOutput.standardError("isolab: in the guest: \(error.error)\n")
                    }
                case .result, .error, .done:
                    guard showsProtocol else { break }
                    if let start = line.range(of: "ISOLAB ") {
                        FileOutput.standardOutput(String(line[start.lowerBound...]).trimmingCharacters(in: .whitespacesAndNewlines) + "\n")
                    }
                default: break
                }
            }
        }
    }
}

extension AcceleratorRequest: ExpressibleByArgument {}
extension MachineType: ExpressibleByArgument {}
