import CLabHost
import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// What a container's cgroups limit. nil: no limit.
public struct CgroupLimits: Codable, Sendable, Equatable {
    public var memoryBytes: UInt64?
    /// CPU quota in CPUs (0.5: half a CPU's time per period).
    public var cpus: Double?
    /// Priority on cgroup v2's scale, 1...10000 (100 is the default); v1 uses
    /// `cpu.shares`, converted.
    public var cpuWeight: Int?
    public var pids: Int?
    /// Only the default devices may be opened (see `DeviceRules`).
    public var restrictDevices = false

    public init(memoryBytes: UInt64? = nil, cpus: Double? = nil, cpuWeight: Int? = nil, pids: Int? = nil, restrictDevices: Bool = false) {
        self.memoryBytes = memoryBytes
        self.cpus = cpus
        self.cpuWeight = cpuWeight
        self.pids = pids
        self.restrictDevices = restrictDevices
    }

    /// The CFS period the lab uses for quotas, in microseconds.
    public static let cpuPeriodMicroseconds = 100_000

    /// cgroup v2 weight to v1 shares, keeping each version's default at the
    /// other's: weight 100 (v2's default) is 1,024 shares (v1's), so a weight
    /// below 100 asks for less than a default sibling on either version, and
    /// only the ratio between siblings matters (systemd converts CPUWeight
    /// the same way). runc's conversion maps shares 2...262144 onto weights
    /// 1...10000 instead, which puts weight 100 at 2,597 shares: a weight of
    /// 50 would then outrank a v1 default of 1,024.
    public static func shares(fromWeight weight: Int) -> Int {
        min(max(weight * 1024 / 100, 2), 262_144)
    }

    public static func weight(fromShares shares: Int) -> Int {
        min(max(shares * 100 / 1024, 1), 10_000)
    }
}

/// What a container's cgroups account.
public struct CgroupStats: Codable, Sendable, Equatable {
    public var cpuUsageNs: UInt64?
    public var memoryCurrentBytes: UInt64?
    /// The high-water mark (v2 `memory.peak`, kernel 5.19 or later; v1 `memory.max_usage_in_bytes`).
    public var memoryPeakBytes: UInt64?
    /// Processes the OOM killer ended in this group.
    public var oomKills: Int?
    public var pidsCurrent: Int?
    /// The most processes at once (`pids.peak`, where the kernel has it).
    public var pidsPeak: Int?
    /// Forks refused by the pids limit (`pids.events` max).
    public var pidsLimitHits: Int?

    public init() {}
}

/// One container's cgroups, whichever version the host has: the same
/// operations on v2's single group or on v1's group per hierarchy.
public protocol CgroupManager: Sendable {
    /// Every directory of the container's group(s).
    var directories: [String] { get }
    /// Creates the group(s) and applies the limits (before any process joins).
    func create(limits: CgroupLimits) throws
    /// Moves a process in, in every hierarchy.
    func addProcess(_ pid: pid_t) throws
    func stats() -> CgroupStats
    /// Stops every process of the group; returns once the kernel says frozen.
    func freeze() throws
    func thaw() throws
    /// SIGKILL to every process in the group.
    func killAll() throws
    /// Pids in the group.
    func processes() -> [pid_t]
    /// Removes the group(s) once empty, retrying briefly on EBUSY.
    func destroy() throws
    /// The files `stats()` reads, for a figure's label: `cgroup v2 memory.peak`.
    var memoryPeakInstrument: String { get }
    var cpuInstrument: String { get }
}

extension CgroupLayout {
    /// The lab's parent group in each hierarchy: `isolab`.
    public static let parentName = "isolab"

    /// The manager for container `id`: v2 on a unified host, v1 (one group per
    /// controller hierarchy) on v1 and hybrid hosts. Throws naming a
    /// controller the host lacks.
    /// `systemHierarchies`: also the hierarchies systemd needs as a
    /// container's init (name=systemd, and cgroup2 on a hybrid host).
    public func manager(for id: String, systemHierarchies: Bool = false) throws -> any CgroupManager {
        switch mode {
        case .v2:
            guard let unified = unifiedMount else { throw LabError(.unsupported, "cgroup v2 host without a cgroup2 mount") }
            return CgroupV2Manager(group: unified + "/" + Self.parentName + "/" + id)
        case .v1, .hybrid:
            var directories: [String: String] = [:]
            for controller in ["memory", "cpu", "cpuacct", "pids", "freezer"] {
                guard let mountPoint = v1MountPoint(of: controller) else {
                    throw LabError(.unsupported, "the \(controller) cgroup controller is not mounted on this host; mount it: mount -t cgroup -o \(controller) cgroup /sys/fs/cgroup/\(controller)")
                }
                directories[controller] = mountPoint + "/" + Self.parentName + "/" + id
            }
            // Needed only for device rules: a container that keeps the host's
            // rules runs without it, one that has rules is refused at create.
            if let mountPoint = v1MountPoint(of: "devices") {
                directories["devices"] = mountPoint + "/" + Self.parentName + "/" + id
            }
            // systemd as the container's init tracks its processes in the
            // name=systemd hierarchy, and on a hybrid host in cgroup2 too: a
            // group of its own in each, which it sees as its root.
            if systemHierarchies {
                guard let systemd = systemdMount else {
                    throw LabError(.unsupported, "a system container needs the name=systemd cgroup hierarchy on a v1 or hybrid host; mount it: mkdir -p /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd")
                }
                directories["name=systemd"] = systemd + "/" + Self.parentName + "/" + id
                if mode == .hybrid, let unified = unifiedMount {
                    directories["unified"] = unified + "/" + Self.parentName + "/" + id
                }
            }
            return CgroupV1Manager(groups: directories)
        }
    }

    /// Every container group of the lab on this host (`isolab/<id>` in each hierarchy).
    public func labGroups() -> [String] {
        var seen = Set<String>()
        var groups: [String] = []
        for mount in mounts where mount.isV2 || !mount.controllers.isEmpty || mount.options.contains("name=systemd") {
            let parent = mount.mountPoint + "/" + Self.parentName
            for name in FileSystem.list(parent) where FileSystem.isDirectory(parent + "/" + name) {
                if seen.insert(parent + "/" + name).inserted { groups.append(parent + "/" + name) }
            }
        }
        return groups
    }
}

/// cgroupfs file access, shared by both managers.
enum CgroupFile {
    /// Writes a control file. O_CREAT lets the managers run on a fake tree in
    /// a temporary directory; cgroupfs refuses to create files, so on the real
    /// thing a missing control file still fails.
    static func write(_ path: String, _ value: String) throws {
        try write(path, lines: [value])
    }

    /// Each value in a write of its own, through one descriptor: a file
    /// that takes one rule per write (devices.allow) costs one open.
    static func write(_ path: String, lines values: [String]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LabError.syscall("open \(path)") }
        defer { close(fd) }
        for value in values {
            let bytes = Array(value.utf8)
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n == bytes.count else { throw LabError.syscall("write '\(value)' to \(path)") }
        }
    }

    static func read(_ path: String) -> String? {
        FileSystem.readTextIfPresent(path)?.trimmingWhitespace()
    }

    static func number(_ path: String) -> UInt64? {
        read(path).flatMap { UInt64($0) }
    }

    /// `key value` lines (cpu.stat, memory.events, memory.oom_control).
    static func keyed(_ path: String, _ key: String) -> UInt64? {
        guard let text = read(path) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == key { return UInt64(parts[1]) }
        }
        return nil
    }

    static func pids(_ directory: String) -> [pid_t] {
        (read(directory + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { pid_t($0) }
    }

    /// The groups below `directory`, deepest first (a system container's
    /// systemd makes its own: init.scope, system.slice/...).
    static func subgroups(_ directory: String) -> [String] {
        var found: [String] = []
        for name in FileSystem.subdirectories(directory) {
            found += subgroups(directory + "/" + name) + [directory + "/" + name]
        }
        return found
    }

    /// Pids in a group and every group below it.
    static func pidsRecursively(_ directory: String) -> [pid_t] {
        ([directory] + subgroups(directory)).flatMap { pids($0) }
    }

    /// rmdir, retrying EBUSY (the last process may still be exiting) for up
    /// to a second; subgroups first.
    static func remove(_ directory: String) throws {
        for child in subgroups(directory) { try remove(child) }
        var delay: UInt32 = 1000
        for _ in 0..<20 {
            if rmdir(directory) == 0 || errno == ENOENT { return }
            guard errno == EBUSY else { throw LabError.syscall("remove cgroup \(directory)") }
            usleep(delay)
            delay = min(delay * 2, 100_000)
        }
        throw LabError.syscall("remove cgroup \(directory)", errno: EBUSY)
    }

    /// Polls until `done` or about a second has passed.
    static func waitUntil(_ done: () -> Bool) -> Bool {
        for _ in 0..<1000 {
            if done() { return true }
            usleep(1000)
        }
        return done()
    }

    static func createGroup(_ directory: String) throws {
        let parent = String(directory[..<(directory.lastIndex(of: "/") ?? directory.endIndex)])
        try FileSystem.createDirectory(parent, mode: 0o755, parents: 0o755)
        guard mkdir(directory, 0o755) == 0 else { throw LabError.syscall("create cgroup \(directory)") }
    }
}

/// The devices a container may open: deny by default, then runc's default
/// list (null, zero, full, random, urandom, tty, ptmx, pts/*; mknod of any
/// node, which opening still refuses) and the console. One list for both
/// versions: v1 writes it to the devices controller, v2 compiles it to a
/// BPF device program.
public enum DeviceRules {
    /// `c 1:3 rwm`, as v1's devices.allow takes them.
    public static var v1Lines: [String] {
        var count: Int32 = 0
        let rules = lab_default_device_rules(&count)!
        return (0..<Int(count)).map { index in
            let rule = rules[index]
            func number(_ value: Int32) -> String { value < 0 ? "*" : String(value) }
            return "\(Character(UnicodeScalar(UInt8(bitPattern: rule.type)))) \(number(rule.major)):\(number(rule.minor)) \(String(cString: rule.access))"
        }
    }

    /// Attaches the BPF device program to a cgroup2 directory.
    public static func attach(to directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw LabError.syscall("open cgroup \(directory)") }
        defer { close(fd) }
        var log = [CChar](repeating: 0, count: 8192)
        var count: Int32 = 0
        let rules = lab_default_device_rules(&count)
        let err = lab_attach_device_program(fd, rules, count, &log, log.count)
        guard err == 0 else {
            let verifier = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw LabError(.systemCall, "attach the device program to \(directory): \(Errno.describe(err))"
                + (verifier.isEmpty ? "" : "; verifier: " + verifier.split(separator: "\n").suffix(2).joined(separator: " ")))
        }
    }
}
