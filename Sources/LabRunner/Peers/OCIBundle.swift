import Foundation
import LabContainer
import LabCore
import LabModel

/// An OCI runtime bundle (`config.json`) for runc and crun, generated from
/// what the lab's own container is started with: the same rootfs
/// (read-only), namespaces, capabilities, memory/CPU/pids limits, device
/// rules (runc adds its default list to a deny-all), masked and read-only
/// paths, mounts, and the lab's seccomp profile in the OCI form. Only keys
/// that `runc spec` writes or runc reads are used (a test checks them
/// against `runc spec`'s own output).
public struct OCIBundle {
    public var rootfs: String
    public var arguments: [String]
    public var environment: [String]
    public var hostname: String
    public var limits: CgroupLimits
    public var capabilities: [String]
    public var seccomp: Seccomp.Profile
    /// Absolute: runc otherwise makes it relative to the caller's own cgroup.
    public var cgroupsPath: String

    public init(rootfs: String, arguments: [String], environment: [String] = ContainerSpec.defaultEnvironment, hostname: String,
                limits: CgroupLimits, capabilities: [String], seccomp: Seccomp.Profile, cgroupsPath: String) {
        self.rootfs = rootfs
        self.arguments = arguments
        self.environment = environment
        self.hostname = hostname
        self.limits = limits
        self.capabilities = capabilities
        self.seccomp = seccomp
        self.cgroupsPath = cgroupsPath
    }

    /// The masked and read-only paths, as runc's `spec` and the lab's container have them.
    public static let maskedPaths = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                                     "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"]
    public static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// The config as JSON, keys sorted (a stable file for the golden tests).
    public func json() throws -> [UInt8] {
        var options: JSONSerialization.WritingOptions = [.prettyPrinted, .sortedKeys]
        options.insert(.withoutEscapingSlashes)
        return Array(try JSONSerialization.data(withJSONObject: config(), options: options)) + [10]
    }

    public func config() -> [String: Any] {
        let caps = capabilities.map { $0.uppercased() }
        var resources: [String: Any] = ["devices": [["allow": false, "access": "rwm"]]]
        if let memory = limits.memoryBytes { resources["memory"] = ["limit": memory, "swap": memory] }
        var cpu: [String: Any] = [:]
        if let cpus = limits.cpus {
            cpu["quota"] = Int(cpus * Double(CgroupLimits.cpuPeriodMicroseconds))
            cpu["period"] = CgroupLimits.cpuPeriodMicroseconds
        }
        if let weight = limits.cpuWeight { cpu["shares"] = CgroupLimits.shares(fromWeight: weight) }
        if !cpu.isEmpty { resources["cpu"] = cpu }
        if let pids = limits.pids { resources["pids"] = ["limit": pids] }
        var linux: [String: Any] = [
            "cgroupsPath": cgroupsPath,
            "namespaces": ["pid", "network", "ipc", "uts", "mount", "cgroup"].map { ["type": $0] },
            "resources": resources,
            "maskedPaths": Self.maskedPaths,
            "readonlyPaths": Self.readonlyPaths,
        ]
        if seccomp == .default { linux["seccomp"] = Self.seccompProfile() }
        return [
            "ociVersion": "1.0.2-dev",
            "process": [
                "terminal": false,
                "user": ["uid": 0, "gid": 0],
                "args": arguments,
                "env": environment,
                "cwd": "/",
                "capabilities": ["bounding": caps, "effective": caps, "permitted": caps],
                "rlimits": [["type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024]],
                "noNewPrivileges": true,
            ] as [String: Any],
            "root": ["path": rootfs, "readonly": true],
            "hostname": hostname,
            "mounts": Self.mounts(),
            "linux": linux,
        ]
    }

    /// The lab's container's mounts (docs/containers.md), in OCI form.
    static func mounts() -> [[String: Any]] {
        [
            ["destination": "/proc", "type": "proc", "source": "proc"],
            ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            ["destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]],
            ["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]],
            ["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]],
            ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]],
            ["destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]],
            ["destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=755"]],
        ]
    }

    /// The lab's default seccomp profile as OCI JSON (for SCMP_CMP_MASKED_EQ,
    /// runc takes `value` as the mask and `valueTwo` as the datum) (SCMP_ACT_ERRNO EPERM
    /// for the same names, clone with a namespace flag, TIOCSTI and
    /// TIOCLINUX; clone3 answers ENOSYS), so both runtimes filter alike.
    static func seccompProfile() -> [String: Any] {
        var rules: [[String: Any]] = [
            ["names": Seccomp.denied, "action": "SCMP_ACT_ERRNO", "errnoRet": Int(EPERM)],
            ["names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": Int(ENOSYS)],
        ]
        for flag in Seccomp.namespaceFlags {
            rules.append(["names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": Int(EPERM),
                          "args": [["index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"]]])
        }
        for request in Seccomp.refusedIoctls {
            rules.append(["names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": Int(EPERM),
                          "args": [["index": 1, "value": 0xFFFF_FFFF, "valueTwo": request, "op": "SCMP_CMP_MASKED_EQ"]]])
        }
        for family in Seccomp.refusedSocketFamilies {
            rules.append(["names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": Int(EPERM),
                          "args": [["index": 0, "value": family, "op": "SCMP_CMP_EQ"]]])
        }
        return ["defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": rules]
    }

    /// Writes `config.json` into `directory` (made 0700; its parent must exist).
    public func write(to directory: String) throws {
        try FileSystem.makeDirectory(directory, mode: 0o700)
        try FileSystem.writeAtomically(directory + "/config.json", bytes: try json(), mode: 0o600, durable: false)
    }
}
