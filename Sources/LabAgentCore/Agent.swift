import CAgentShim
import LabWire
import Glibc

/// The program inside every instance: as a VM's PID 1 (from the initramfs),
/// as a container's PID 1, and as a plain host process (the bare baseline).
public enum Agent {
    public static let usage = """
        usage: isolab-agent [--control-fd N] run WORKLOAD... [--PARAM VALUE]... [--WORKLOAD.PARAM VALUE]...
               isolab-agent service     (isolab-agent.service in a whole-OS image: docs/full-os.md)
               isolab-agent --help | --version

        Writes the lab's line protocol (docs/agent-protocol.md, version \(AgentProtocol.version)) to
        stdout, or to descriptor N. As a VM's PID 1 it reads its arguments from the
        kernel command line (isolab.run=...) and writes to /dev/ttyS0.

        A parameter applies to every named workload that takes it; --WORKLOAD.PARAM
        applies to one. Workloads:
        """

    /// What the agent is in this instance.
    public enum Role: String, Sendable {
        /// PID 1 of a VM: mounts, reaps, powers off, never exits.
        case vm
        /// PID 1 of a container's PID namespace: reaps, exits with the status.
        case container
        /// A plain process (the bare baseline).
        case process
    }

    /// The entry point; returns the exit status (never returns as a VM's init).
    /// `startedAsVMInit`: the agent was PID 1 with no /proc (a VM's init) and
    /// mounted /proc before the Swift runtime started (see CAgentInit).
    public static func main(_ argv: [String], startedAsVMInit: Bool) -> Int32 {
        Sys.argv0 = argv.first
        let arguments = Array(argv.dropFirst())
        if arguments.first == NetWorkload.serverCommand {
            return NetWorkload.serve()
        }
        if startedAsVMInit {
            vmInit()
        }
        if arguments == ["service"] {
            return SystemService.main()
        }
        let role: Role = getpid() == 1 ? .container : .process
        if arguments.isEmpty || arguments == ["--help"] || arguments == ["-h"] {
            Sys.write(arguments.isEmpty ? 2 : 1, helpText())
            return arguments.isEmpty ? 2 : 0
        }
        if arguments == ["--version"] {
            Sys.write(1, "isolab-agent protocol \(AgentProtocol.version)\n")
            return 0
        }
        var rest = arguments
        var control: Int32 = 1
        if rest.count >= 2, rest[0] == "--control-fd" {
            guard let fd = Int32(rest[1]), fd >= 0, fcntl(fd, F_GETFD) >= 0 else {
                return fail(AgentError.badInput("--control-fd \(rest[1]) is not an open file descriptor"), control: 1, role: role)
            }
            control = fd
            rest.removeFirst(2)
        }
        let status = session(control: control, role: role) { () throws(AgentError) in
            guard rest.first == "run" else {
                throw .badInput("expected 'run WORKLOAD...', got '\(rest.joined(separator: " "))'", accepted: ["run"])
            }
            return Array(rest.dropFirst())
        }
        if role == .container {
            Sys.reapChildren()
        }
        return status
    }

    /// READY, then the workloads the arguments name, then DONE. READY is
    /// written before anything else is looked at: it is the instant the lab
    /// times as "ready".
    static func session(control: Int32, role: Role, extra: [(String, String)] = [], afterReady: () -> Void = {},
                        arguments: () throws(AgentError) -> [String]) -> Int32 {
        Sys.write(control, AgentProtocol.ready(readyFields(role: role) + extra))
        afterReady()
        var reporter = Reporter { Sys.write(control, $0) }
        do {
            let runs = try Invocation.parse(try arguments())
            for run in runs {
                try WorkloadCatalog.spec(run.name)!.body(run, &reporter)
            }
        } catch {
            return fail(error, control: control, role: role)
        }
        Sys.write(control, AgentProtocol.done(exit: 0, fields: doneFields()))
        return 0
    }

    /// The agent's own peak RSS (VmHWM of its image since exec), for the host
    /// to set beside the instance's memory (rusage's max RSS of a spawned
    /// child also counts the pages it shared with its parent before exec),
    /// and its own CPU time with its reaped children's: what a cgroup that
    /// holds only the agent should account.
    static func doneFields() -> [(String, String)] {
        var fields: [(String, String)] = []
        if let status = Sys.readFile("/proc/self/status") {
            for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
                if let value = line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first {
                    fields.append(("max_rss_kb", String(value)))
                }
            }
        }
        fields.append(("cpu_ns", String(Sys.cpuNs(RUSAGE_SELF.rawValue) + Sys.cpuNs(RUSAGE_CHILDREN.rawValue))))
        return fields
    }

    static func fail(_ error: AgentError, control: Int32, role: Role) -> Int32 {
        Sys.write(control, AgentProtocol.error(error))
        Sys.write(control, AgentProtocol.done(exit: error.exitStatus))
        if control != 2 {
            Sys.write(2, "isolab-agent: \(error.error)\n")
        }
        return error.exitStatus
    }

    /// The READY line's fields (after `version`).
    public static func readyFields(role: Role) -> [(String, String)] {
        var names = utsname()
        uname(&names)
        let release = withUnsafeBytes(of: names.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let version = withUnsafeBytes(of: names.version) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let hostname = String(decoding: host.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var total = -1, available = -1
        if let meminfo = Sys.readFile("/proc/meminfo") {
            for line in meminfo.split(separator: "\n") {
                if line.hasPrefix("MemTotal:") { total = Int(line.split(separator: " ")[1]) ?? -1 }
                if line.hasPrefix("MemAvailable:") { available = Int(line.split(separator: " ")[1]) ?? -1 }
            }
        }
        return [
            ("uptime_ns", String(Sys.boottimeNs())),
            ("monotonic_ns", String(Sys.monotonicNs())),
            ("pid", String(getpid())),
            ("role", role.rawValue),
            ("hostname", hostname),
            ("kernel", release),
            ("kernel_version", version),
            ("boot_id", (Sys.readFile("/proc/sys/kernel/random/boot_id") ?? "unknown").filter { !$0.isWhitespace }),
            ("mem_total_kb", String(total)),
            ("mem_available_kb", String(available)),
            ("ncpu", String(sysconf(Int32(_SC_NPROCESSORS_ONLN)))),
            ("hypervisor", hypervisorFlag()),
        ]
    }

    /// `yes` when the CPU's flags (the first processor's in /proc/cpuinfo)
    /// carry `hypervisor`, which a CPU under any virtual machine sets;
    /// `unknown` without /proc/cpuinfo.
    static func hypervisorFlag() -> String {
        guard let cpuinfo = Sys.readFile("/proc/cpuinfo") else { return "unknown" }
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            return line.split(separator: " ").contains("hypervisor") ? "yes" : "no"
        }
        return "unknown"
    }

    /// Mounts a disk the host made (ext4), waiting briefly for its device
    /// node: a driver loaded just now probes the disk asynchronously.
    static func mountVolume(_ volume: KernelCommandLine.Volume) throws(AgentError) {
        for _ in 0..<500 where !Sys.exists(volume.device) { usleep(10_000) }
        mkdir(volume.directory, 0o755)
        guard mount(volume.device, volume.directory, "ext4", 0, nil) == 0 else {
            throw AgentError("mount \(volume.device) on \(volume.directory): \(Sys.describe(errno))")
        }
    }

    static func loadModules(_ modules: [String]) throws(AgentError) {
        for module in modules {
            let err = lab_load_module(module)
            // EEXIST: built into this kernel, or loaded already.
            if err != 0 && err != EEXIST { throw AgentError("load module \(module): \(Sys.describe(err))") }
        }
    }

    /// switch_root, as an initramfs's init does it: the disk mounted, the
    /// API file systems moved onto it, then it moved over `/` and made the
    /// root. The initramfs's few files (this agent, the modules) stay in
    /// memory, out of sight.
    static func switchRoot(to device: String, modules: [String]) throws(AgentError) {
        try loadModules(modules)
        let target = "/newroot"
        try mountVolume(KernelCommandLine.Volume(device: device, directory: target))
        for directory in ["/proc", "/sys", "/dev", "/tmp"] {
            mkdir(target + directory, 0o755)
            guard mount(directory, target + directory, nil, UInt(MS_MOVE), nil) == 0 else {
                throw AgentError("move \(directory) to the image's root: \(Sys.describe(errno))")
            }
        }
        guard chdir(target) == 0, mount(".", "/", nil, UInt(MS_MOVE), nil) == 0, chroot(".") == 0, chdir("/") == 0 else {
            throw AgentError("switch to the image's root on \(device): \(Sys.describe(errno))")
        }
    }

    static func helpText() -> String {
        var text = usage + "\n"
        for spec in WorkloadCatalog.all {
            text += "  \(spec.name): \(spec.summary)\n"
            for parameter in spec.parameters {
                text += "      --\(parameter.name)\(parameter.defaultValue.map { " (default \($0))" } ?? ""): \(parameter.help)\n"
            }
        }
        return text
    }

    // MARK: - PID 1 of a VM

    /// Mounts what a fresh initramfs lacks, runs the kernel command line's
    /// workloads, reaps, and powers off. Never returns: a PID 1 that exits
    /// panics the guest.
    static func vmInit() -> Never {
        var mountErrors: [String] = []
        // /proc is already mounted (CAgentInit); EBUSY from a second mount is harmless.
        for (source, target, type) in [("proc", "/proc", "proc"), ("sysfs", "/sys", "sysfs"),
                                       ("devtmpfs", "/dev", "devtmpfs"), ("tmpfs", "/tmp", "tmpfs")] {
            mkdir(target, 0o755)
            if mount(source, target, type, 0, nil) != 0 && errno != EBUSY {
                mountErrors.append("mount \(type) on \(target): \(Sys.describe(errno))")
            }
        }
        // An image's disk as the root (isolab.root=): mounted and switched
        // to before READY, so that the agent is ready inside the image's
        // tree, as a container's is.
        var setupError: AgentError?
        var early: KernelCommandLine.Settings?
        if mountErrors.isEmpty, let cmdline = Sys.readFile("/proc/cmdline") {
            do {
                let settings = try KernelCommandLine.settings(cmdline)
                early = settings
                if let root = settings.root { try switchRoot(to: root, modules: settings.modules) }
            } catch {
                setupError = error
            }
        }
        var control = open("/dev/ttyS0", O_WRONLY | O_NOCTTY | O_CLOEXEC)
        if control < 0 { control = 1 }
        let loopback = Loopback.up()
        if let exec = early?.exec {
            if setupError == nil, loopback != 0 { setupError = AgentError("bring lo up: \(Sys.describe(loopback))") }
            _ = ProgramRun.session(control: control, role: .vm, exec: exec, setupError: setupError)
        } else {
            _ = session(control: control, role: .vm) { () throws(AgentError) in
                if let first = mountErrors.first { throw AgentError(first) }
                if let setupError { throw setupError }
                if loopback != 0 { throw AgentError("bring lo up: \(Sys.describe(loopback))") }
                guard let cmdline = Sys.readFile("/proc/cmdline") else {
                    throw AgentError("read /proc/cmdline: \(Sys.describe(errno))")
                }
                let settings = try KernelCommandLine.settings(cmdline)
                if settings.root == nil { try loadModules(settings.modules) }
                for volume in settings.volumes {
                    try mountVolume(volume)
                }
                return settings.run
            }
        }
        Sys.reapChildren()
        let err = lab_power_off()
        Sys.write(control, AgentProtocol.error(AgentError("power off: \(Sys.describe(err))")))
        while true {
            pause()
            Sys.reapChildren()
        }
    }
}
