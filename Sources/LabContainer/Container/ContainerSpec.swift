import LabWire
import LabCore
import LabModel
import CLabHost

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
    /// An OCI image's unpacked layers, the top one first: the root is then
    /// an overlay of them (read-only) under an upper directory of this
    /// instance's own, removed at teardown; nothing of the image is copied.
    /// Empty: `rootfs` bound read-only.
    public var lowerDirectories: [String] = []
    /// The lab's agent (a static executable on the host), bound read-only at
    /// `ContainerSpec.injectedAgentPath` in an image that does not hold it:
    /// the image and its digest stay as they are.
    public var injectedAgent: String?
    public static let injectedAgentPath = "/.isolab-agent"
    /// The uid and gid the command runs as (an image's `User`); nil: root.
    public var user: (uid: UInt32, gid: UInt32)?

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


    /// Whether the root is an overlay: a system container's, or an OCI image's layers.
    public var hasOverlayRoot: Bool { system != nil || !lowerDirectories.isEmpty }

    /// The image's trees, top first: its layers, or its one `rootfs`.
    public var imageTrees: [String] { lowerDirectories.isEmpty ? [rootfs] : lowerDirectories }

    /// The read-only bind of the injected agent (made as a file in the
    /// instance's upper layer first).
    var agentMounts: [SystemContainer.Mount] {
        guard let injectedAgent else { return [] }
        let target = Self.injectedAgentPath
        return [SystemContainer.Mount(source: injectedAgent, target: target, flags: UInt(MS_BIND), create: .file),
                SystemContainer.Mount(source: nil, target: target, flags: UInt(MS_BIND) | UInt(MS_REMOUNT) | UInt(MS_RDONLY) | UInt(MS_NOSUID) | UInt(MS_NODEV))]
    }

    /// The host path of `command[0]` inside the image, following symlinks
    /// inside the image (an absolute link target is the image's, not the
    /// host's), or an error naming the command. The injected agent is
    /// found at its path.
    public func resolveCommand() throws -> String {
        guard let program = command.first, !program.isEmpty else {
            throw LabError(.invalidInput, "no command given")
        }
        if program == Self.injectedAgentPath, let injectedAgent { return injectedAgent }
        let trees = imageTrees
        if program.contains("/") {
            guard program.hasPrefix("/"), let found = Self.resolve(program, in: trees), Self.isExecutable(found) else {
                throw LabError(.invalidInput, "command \(program) is not an executable in the image (\(trees[0]))")
            }
            return found
        }
        let path = environment.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            if let found = Self.resolve("\(directory)/\(program)", in: trees), Self.isExecutable(found) { return found }
        }
        throw LabError(.invalidInput, "command \(program) is not in the image's PATH (\(path))")
    }

    static func isExecutable(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    /// `path` inside the image made of `trees` (top first), with every
    /// symlink resolved inside it: the host path of the file that the
    /// overlay would show.
    static func resolve(_ path: String, in trees: [String], depth: Int = 0) -> String? {
        guard depth < 16 else { return nil }
        var resolved: [Substring] = []
        var parts = path.split(separator: "/")[...]
        while let part = parts.popFirst() {
            if part == "." { continue }
            if part == ".." { _ = resolved.popLast(); continue }
            var st = stat()
            guard let candidate = lookup((resolved + [part]).joined(separator: "/"), in: trees, &st) else { return nil }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                var buffer = [CChar](repeating: 0, count: 4096)
                let n = readlink(candidate, &buffer, buffer.count - 1)
                guard n > 0 else { return nil }
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let base = target.hasPrefix("/") ? "" : "/" + resolved.joined(separator: "/")
                let rest = parts.isEmpty ? "" : "/" + parts.joined(separator: "/")
                return resolve(base + "/" + target + rest, in: trees, depth: depth + 1)
            }
            resolved.append(part)
        }
        var st = stat()
        return lookup(resolved.joined(separator: "/"), in: trees, &st)
    }

    /// The host path of `relative` in the merged view of `trees` (top
    /// first), its lstat in `st`: the topmost tree holding it, unless a
    /// whiteout (a 0/0 character device) or an opaque directory above hides
    /// the trees below (the overlay's rules, Documentation/filesystems/overlayfs.rst).
    static func lookup(_ relative: String, in trees: [String], _ st: inout stat) -> String? {
        for tree in trees {
            let candidate = relative.isEmpty ? tree : tree + "/" + relative
            if lstat(candidate, &st) == 0 {
                if (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0 { return nil }
                return candidate
            }
            if trees.count > 1 && hidesBelow(relative, in: tree) { return nil }
        }
        return nil
    }

    /// A whiteout or an opaque directory on the way to `relative` in `tree`.
    static func hidesBelow(_ relative: String, in tree: String) -> Bool {
        var path = tree
        for component in relative.split(separator: "/").dropLast() {
            path += "/" + component
            var st = stat()
            guard lstat(path, &st) == 0 else { return false }
            if (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0 { return true }
            var value: UInt8 = 0
            if getxattr(path, "trusted.overlay.opaque", &value, 1) == 1 && value == UInt8(ascii: "y") { return true }
        }
        return false
    }
}

extension ContainerSpec {
    /// An image's `User` (image-spec config.md): `uid`, `uid:gid`, or names
    /// looked up in the image's own /etc/passwd and /etc/group (never the
    /// host's). A user the image does not have is an error; without a
    /// group, the user's primary group from /etc/passwd (0 if none).
    public func resolveUser(_ text: String) throws -> (uid: UInt32, gid: UInt32) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        func table(_ file: String) -> [[String]] {
            guard let path = Self.resolve(file, in: imageTrees), let text = FileSystem.readTextIfPresent(path) else { return [] }
            return text.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
        }
        let uid: UInt32
        var gid: UInt32?
        if let number = UInt32(parts[0]) {
            uid = number
            gid = table("/etc/passwd").first { $0.count > 3 && UInt32($0[2]) == number }.flatMap { UInt32($0[3]) }
        } else {
            guard let entry = table("/etc/passwd").first(where: { $0.count > 3 && $0[0] == parts[0] }), let number = UInt32(entry[2]) else {
                throw LabError(.invalidInput, "the image's user '\(parts[0])' is not in its /etc/passwd")
            }
            uid = number
            gid = UInt32(entry[3])
        }
        if parts.count > 1 {
            if let number = UInt32(parts[1]) {
                gid = number
            } else {
                guard let entry = table("/etc/group").first(where: { $0.count > 2 && $0[0] == parts[1] }), let number = UInt32(entry[2]) else {
                    throw LabError(.invalidInput, "the image's group '\(parts[1])' is not in its /etc/group")
                }
                gid = number
            }
        }
        return (uid, gid ?? 0)
    }
}
