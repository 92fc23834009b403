import CLabHost
import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// How the host arranges its cgroup hierarchies.
public enum CgroupMode: String, Codable, Sendable {
    /// One cgroup2 hierarchy at `/sys/fs/cgroup` (most current hosts).
    case v2
    /// Only v1 hierarchies, one per controller (or group of controllers).
    case v1
    /// v1 controllers plus a cgroup2 mount (usually `/sys/fs/cgroup/unified`)
    /// that carries no controllers the lab needs.
    case hybrid
}

/// One cgroup or cgroup2 mount from `/proc/self/mountinfo`.
public struct CgroupMount: Codable, Sendable, Equatable {
    public var mountPoint: String
    /// `cgroup` (v1) or `cgroup2`.
    public var fileSystem: String
    /// The v1 controllers bound to this hierarchy (empty for cgroup2 and for
    /// named hierarchies such as `name=systemd`).
    public var controllers: [String]
    /// The super options (`rw,nsdelegate,favordynmods`, ...).
    public var options: [String] = []

    public var isV2: Bool { fileSystem == "cgroup2" }
}

/// The host's cgroup hierarchies and where each controller lives.
public struct CgroupLayout: Codable, Sendable, Equatable {
    public var mode: CgroupMode
    public var mounts: [CgroupMount]

    /// Whether any hierarchy has `favordynmods`: the lock every move into a
    /// cgroup takes (`cgroup_threadgroup_rwsem`) is shared by all of them,
    /// so one mount's option spares every move an RCU grace period.
    public var favorDynmods: Bool { mounts.contains { $0.options.contains("favordynmods") } }

    /// The cgroup2 mount point, if any.
    public var unifiedMount: String? { mounts.first(where: \.isV2)?.mountPoint }

    /// The v1 `name=systemd` hierarchy (v1 and hybrid hosts run by systemd, or set up so).
    public var systemdMount: String? { mounts.first { !$0.isV2 && $0.options.contains("name=systemd") }?.mountPoint }

    /// The v1 mount point of a controller, if it is mounted as v1.
    public func v1MountPoint(of controller: String) -> String? {
        mounts.first { !$0.isV2 && $0.controllers.contains(controller) }?.mountPoint
    }

    /// v1 controllers the kernel knows; other super options of a v1 mount
    /// (`rw`, `name=systemd`, `clone_children`, ...) are not controllers.
    static let knownV1Controllers: Set<String> = [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "blkio",
        "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc",
    ]

    /// Parses the cgroup mounts out of mountinfo text.
    public static func mounts(fromMountInfo text: String) -> [CgroupMount] {
        var result: [CgroupMount] = []
        for line in text.split(separator: "\n") {
            // ID parent major:minor root mount-point options [optional...] - fstype source super-options
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let dash = fields.firstIndex(of: "-"), dash >= 5, fields.count > dash + 1 else { continue }
            let fileSystem = String(fields[dash + 1])
            guard fileSystem == "cgroup" || fileSystem == "cgroup2" else { continue }
            let superOptions = fields.count > dash + 3 ? fields[dash + 3].split(separator: ",").map(String.init) : []
            let controllers = fileSystem == "cgroup" ? superOptions.filter { knownV1Controllers.contains($0) } : []
            result.append(CgroupMount(
                mountPoint: unescapeMountInfo(String(fields[4])),
                fileSystem: fileSystem,
                controllers: controllers,
                options: superOptions))
        }
        return result
    }

    /// Decides the mode from the mounts: only cgroup2 is v2, only cgroup is
    /// v1, both is hybrid.
    public static func detect(mountInfo text: String) throws -> CgroupLayout {
        try detect(mounts: mounts(fromMountInfo: text))
    }

    static func detect(mounts: [CgroupMount]) throws -> CgroupLayout {
        let hasV2 = mounts.contains(where: \.isV2)
        let hasV1 = mounts.contains { !$0.isV2 && !$0.controllers.isEmpty }
        let mode: CgroupMode
        switch (hasV1, hasV2) {
        case (true, true): mode = .hybrid
        case (true, false): mode = .v1
        case (false, true): mode = .v2
        case (false, false):
            throw LabError(.unsupported, "no cgroup file system is mounted (looked for cgroup and cgroup2 in mountinfo); mount cgroup2 on /sys/fs/cgroup")
        }
        return CgroupLayout(mode: mode, mounts: mounts)
    }

    /// The host's layout, read from `/proc/self/mountinfo` and confirmed by
    /// the file-system magic of each mount point (statfs), so that a stale or
    /// shadowed mountinfo entry cannot mislead the lab.
    public static func detectHost(mountInfoPath: String = "/proc/self/mountinfo") throws -> CgroupLayout {
        let mounts = Self.mounts(fromMountInfo: try FileSystem.readText(mountInfoPath)).filter { mount in
            guard let magic = fileSystemMagic(mount.mountPoint) else { return false }
            return magic == (mount.isV2 ? cgroup2SuperMagic : cgroupSuperMagic)
        }
        return try detect(mounts: mounts)
    }

    static let cgroupSuperMagic: Int = 0x27e0eb
    static let cgroup2SuperMagic: Int = 0x63677270

    static func fileSystemMagic(_ path: String) -> Int? {
        let magic = lab_statfs_type(path)
        return magic < 0 ? nil : Int(magic)
    }

    /// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
    static func unescapeMountInfo(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var bytes: [UInt8] = []
        let source = Array(text.utf8)
        var i = 0
        while i < source.count {
            if source[i] == UInt8(ascii: "\\"), i + 3 < source.count {
                let digits = source[(i + 1)...(i + 3)]
                if let value = UInt8(String(decoding: digits, as: UTF8.self), radix: 8) {
                    bytes.append(value)
                    i += 4
                    continue
                }
            }
            bytes.append(source[i])
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
