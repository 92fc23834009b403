import LabWire
import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// Everything a container is started with.
public struct ContainerSpec: Sendable {
    /// 12 hex digits; the cgroup is `isolab/<id>`, the hostname defaults to it.
    public var id: String
    /// The image's `rootfs/`, bind-mounted read-only as the container's root.
    public var rootfs: String
    /// The command; the first element is an absolute path or a name searched in the image's PATH.
    public var command: [String]
    /// `KEY=value` strings.
    public var environment: [String]
    public var workdir: String
    public var hostname: String
    public var limits: CgroupLimits
    /// Capabilities kept (bit n: capability n).
    public var capabilities: UInt64
    public var userNamespace: Bool
    /// Descriptors that become the container's 0, 1, 2 (-1: /dev/null).
    public var stdin: Int32 = -1
    public var stdout: Int32 = -1
    public var stderr: Int32 = -1
    /// A descriptor the container gets as 3 (-1: none).
    public var controlFD: Int32 = -1
    /// Host directories bound into the container (volumes).
    public var volumes: [Volume] = []
    /// The seccomp filter loaded just before exec.
    public var seccomp: Seccomp.Profile = .default
    /// runc's masked and read-only paths of /proc and /sys.
    public var maskPaths = true
    /// Only runc's default devices may be opened (the devices cgroup on v1,
    /// a BPF device program on v2); false leaves the host's rules.
    public var restrictDevices = true
    /// stdin is a pty the lab made for the container: make it the
    /// controlling terminal of the container's session.
    public var controllingTerminal = false
    /// Namespaces the container shares with the lab instead of getting its
    /// own: pid, uts, ipc or net (never mnt). The demos' tests use it to show
    /// that a demo fails when the feature it shows is missing.
    public var sharedNamespaces: Set<NamespaceKind> = []
    /// CPUs the container runs on (nil: the lab's).
    public var cpuAffinity: [Int]?
    /// (resource, soft, hard)
    public var rlimits: [(Int32, UInt64, UInt64)] = [(Int32(RLIMIT_NOFILE.rawValue), 1024, 1024)]
    /// A system container: a whole OS with systemd as PID 1 (docs/full-os.md).
    public var system: SystemContainer?

    /// What systemd's container interface asks of the lab beyond a
    /// one-process container: a writable root of the instance's own (an
    /// overlay over the shared, read-only image), its own subtree of the
    /// cgroup hierarchies systemd uses, writable inside its cgroup
    /// namespace, and a console.
    public struct SystemContainer: Sendable {
        /// The pty slave (a host path, /dev/pts/N) bound at /dev/console.
        public var console: String
        /// A host directory bound read-only at /run/host (the notify socket's).
        public var hostDirectory: String?

        public init(console: String, hostDirectory: String? = nil) {
            self.console = console
            self.hostDirectory = hostDirectory
        }

        /// nspawn's default set: runc's is not enough for systemd (it
        /// mounts /run/lock and the API file systems itself: SYS_ADMIN).
        public static let capabilityNames = [
            "CAP_AUDIT_CONTROL", "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
            "CAP_IPC_OWNER", "CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
            "CAP_SYS_CHROOT", "CAP_SYS_NICE", "CAP_SYS_PTRACE", "CAP_SYS_RESOURCE", "CAP_SYS_TTY_CONFIG",
        ]

        /// PID 1's environment: `container=` tells systemd where it runs;
        /// no getty on the console the lab reads.
        public static let environment = ["container=isolab", "SYSTEMD_GETTY_AUTO=0", "TERM=vt220",
                                          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

        /// The mounts in the new root after the standard ones, as (source,
        /// target inside, fstype, flags, data, create): the cgroup tree for
        /// the host's mode, the console, /run/host.
        public func mounts(mode: CgroupMode) -> [Mount] {
            let flags = UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC)
            var mounts: [Mount] = []
            switch mode {
            case .v2:
                // Inside the cgroup namespace: the container's own group as the root, writable.
                mounts.append(Mount(source: "cgroup2", target: "/sys/fs/cgroup", fstype: "cgroup2", flags: flags))
            case .v1, .hybrid:
                mounts.append(Mount(source: "tmpfs", target: "/sys/fs/cgroup", fstype: "tmpfs", flags: flags, data: "mode=755"))
                if mode == .hybrid {
                    mounts.append(Mount(source: "cgroup2", target: "/sys/fs/cgroup/unified", fstype: "cgroup2", flags: flags, create: .directory))
                }
                mounts.append(Mount(source: "cgroup", target: "/sys/fs/cgroup/systemd", fstype: "cgroup", flags: flags, data: "none,name=systemd",
                                    create: .directory))
                // Where systemd expects co-mounted controllers (none is mounted inside: they hold the lab's limits).
                for (link, target) in [("cpu", "cpu,cpuacct"), ("cpuacct", "cpu,cpuacct"), ("net_cls", "net_cls,net_prio"), ("net_prio", "net_cls,net_prio")] {
                    mounts.append(Mount(source: target, target: "/sys/fs/cgroup/" + link, create: .symlink))
                }
                mounts.append(Mount(source: "tmpfs", target: "/sys/fs/cgroup", fstype: "tmpfs",
                                    flags: flags | UInt(MS_REMOUNT) | UInt(MS_RDONLY), data: "mode=755"))
            }
            mounts.append(Mount(source: console, target: "/dev/console", flags: UInt(MS_BIND), create: .file))
            if let hostDirectory {
                mounts.append(Mount(source: hostDirectory, target: "/run/host", flags: UInt(MS_BIND), create: .directory))
                mounts.append(Mount(source: nil, target: "/run/host", flags: UInt(MS_BIND) | UInt(MS_REMOUNT) | UInt(MS_RDONLY) | flags))
            }
            return mounts
        }

        public struct Mount: Sendable, Equatable {
            public enum Create: Int32, Sendable { case nothing = 0, directory = 1, file = 2, symlink = 3 }
            public var source: String?
            public var target: String
            public var fstype: String?
            public var flags: UInt = 0
            public var data: String?
            public var create: Create = .nothing
        }
    }

    public init(
        id: String = InstanceID.next(), rootfs: String, command: [String], environment: [String] = ContainerSpec.defaultEnvironment,
        workdir: String = "/", hostname: String? = nil, limits: CgroupLimits = CgroupLimits(),
        capabilities: UInt64, userNamespace: Bool = false
    ) {
        self.id = id
        self.rootfs = rootfs
        self.command = command
        self.environment = environment
        self.workdir = workdir
        self.hostname = hostname ?? id
        self.limits = limits
        self.capabilities = capabilities
        self.userNamespace = userNamespace
    }

    /// A host directory seen inside the container at `target`, a directory
    /// the image has (the built-in image has `/data` for this).
    public struct Volume: Sendable, Equatable {
        public var source: String
        public var target: String
        public var readOnly: Bool

        public init(source: String, target: String, readOnly: Bool = false) {
            self.source = source
            self.target = target
            self.readOnly = readOnly
        }
    }

    public static let defaultEnvironment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]

    /// 12 lowercase hex digits, as `newID` makes them.
    public static func isValidID(_ id: String) -> Bool {
        id.utf8.count == 12 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }


    /// The host path of `command[0]` inside the rootfs, following symlinks
    /// inside the image (an absolute link target is the image's, not the
    /// host's), or an error naming the command.
    public func resolveCommand() throws -> String {
        guard let program = command.first, !program.isEmpty else {
            throw LabError(.invalidInput, "no command given")
        }
        if program.contains("/") {
            guard program.hasPrefix("/"), let found = Self.resolve(program, in: rootfs), Self.isExecutable(found) else {
                throw LabError(.invalidInput, "command \(program) is not an executable in the image (\(rootfs))")
            }
            return found
        }
        let path = environment.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            if let found = Self.resolve("\(directory)/\(program)", in: rootfs), Self.isExecutable(found) { return found }
        }
        throw LabError(.invalidInput, "command \(program) is not in the image's PATH (\(path))")
    }

    static func isExecutable(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    /// `path` inside `root`, with every symlink resolved inside `root`.
    static func resolve(_ path: String, in root: String, depth: Int = 0) -> String? {
        guard depth < 16 else { return nil }
        var resolved: [Substring] = []
        var parts = path.split(separator: "/")[...]
        while let part = parts.popFirst() {
            if part == "." { continue }
            if part == ".." { _ = resolved.popLast(); continue }
            let candidate = root + "/" + (resolved + [part]).joined(separator: "/")
            var st = stat()
            guard lstat(candidate, &st) == 0 else { return nil }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                var buffer = [CChar](repeating: 0, count: 4096)
                let n = readlink(candidate, &buffer, buffer.count - 1)
                guard n > 0 else { return nil }
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let base = target.hasPrefix("/") ? "" : "/" + resolved.joined(separator: "/")
                let rest = parts.isEmpty ? "" : "/" + parts.joined(separator: "/")
                return resolve(base + "/" + target + rest, in: root, depth: depth + 1)
            }
            resolved.append(part)
        }
        return root + "/" + resolved.joined(separator: "/")
    }
}
