import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// cgroup v1 (legacy and hybrid hosts): one group per controller hierarchy,
/// `<mount>/isolab/<id>`. Co-mounted controllers (cpu,cpuacct) share one.
public struct CgroupV1Manager: CgroupManager {
    /// controller -> its group directory
    public let groups: [String: String]

    public init(groups: [String: String]) {
        self.groups = groups
    }

    public var directories: [String] { Array(Set(groups.values)).sorted() }
    public var memoryPeakInstrument: String { "cgroup v1 memory.max_usage_in_bytes" }
    public var cpuInstrument: String { "cgroup v1 cpuacct.usage" }

    func group(_ controller: String) -> String { groups[controller]! }

    /// The group of a controller the limits need; an error naming it when
    /// this manager has none.
    func required(_ controller: String) throws -> String {
        guard let directory = groups[controller] else {
            throw LabError(.unsupported, "the \(controller) cgroup controller is not mounted on this host; mount it: mount -t cgroup -o \(controller) cgroup /sys/fs/cgroup/\(controller)")
        }
        return directory
    }

    public func create(limits: CgroupLimits) throws {
        var created: [String] = []
        do {
            for directory in directories {
                try CgroupFile.createGroup(directory)
                created.append(directory)
            }
            if let bytes = limits.memoryBytes {
                let memory = try required("memory")
                try CgroupFile.write(memory + "/memory.limit_in_bytes", String(bytes))
                // Swap off for the group, where the kernel accounts swap.
                if FileSystem.exists(memory + "/memory.memsw.limit_in_bytes") {
                    try CgroupFile.write(memory + "/memory.memsw.limit_in_bytes", String(bytes))
                }
                if FileSystem.exists(memory + "/memory.swappiness") {
                    try CgroupFile.write(memory + "/memory.swappiness", "0")
                }
            }
            if let cpus = limits.cpus {
                let cpu = try required("cpu")
                try CgroupFile.write(cpu + "/cpu.cfs_period_us", String(CgroupLimits.cpuPeriodMicroseconds))
                try CgroupFile.write(cpu + "/cpu.cfs_quota_us", String(Int(cpus * Double(CgroupLimits.cpuPeriodMicroseconds))))
            }
            if let weight = limits.cpuWeight {
                try CgroupFile.write(try required("cpu") + "/cpu.shares", String(CgroupLimits.shares(fromWeight: weight)))
            }
            if let pids = limits.pids {
                try CgroupFile.write(try required("pids") + "/pids.max", String(pids))
            }
            if limits.restrictDevices {
                let devices = try required("devices")
                // Deny everything first (it also clears the exceptions a new
                // group copied from its parent), then allow the list, one
                // rule per write.
                try CgroupFile.write(devices + "/devices.deny", "a")
                try CgroupFile.write(devices + "/devices.allow", lines: DeviceRules.v1Lines)
            }
        } catch {
            for directory in created.reversed() { try? CgroupFile.remove(directory) }
            throw error
        }
    }

    public func addProcess(_ pid: pid_t) throws {
        for directory in directories {
            try CgroupFile.write(directory + "/cgroup.procs", String(pid))
        }
    }

    public func stats() -> CgroupStats {
        var stats = CgroupStats()
        stats.cpuUsageNs = CgroupFile.number(group("cpuacct") + "/cpuacct.usage")
        let memory = group("memory")
        stats.memoryCurrentBytes = CgroupFile.number(memory + "/memory.usage_in_bytes")
        stats.memoryPeakBytes = CgroupFile.number(memory + "/memory.max_usage_in_bytes")
        // Kernels since 4.13 count kills in memory.oom_control's oom_kill.
        stats.oomKills = CgroupFile.keyed(memory + "/memory.oom_control", "oom_kill").map { Int($0) }
        stats.pidsCurrent = CgroupFile.number(group("pids") + "/pids.current").map { Int($0) }
        stats.pidsPeak = CgroupFile.number(group("pids") + "/pids.peak").map { Int($0) }
        stats.pidsLimitHits = CgroupFile.keyed(group("pids") + "/pids.events", "max").map { Int($0) }
        return stats
    }

    public func freeze() throws {
        let state = group("freezer") + "/freezer.state"
        try CgroupFile.write(state, "FROZEN")
        guard CgroupFile.waitUntil({ CgroupFile.read(state) == "FROZEN" }) else {
            throw LabError(.timeout, "freeze \(group("freezer")): still \(CgroupFile.read(state) ?? "?") after 1 s")
        }
    }

    public func thaw() throws {
        let state = group("freezer") + "/freezer.state"
        try CgroupFile.write(state, "THAWED")
        guard CgroupFile.waitUntil({ CgroupFile.read(state) == "THAWED" }) else {
            throw LabError(.timeout, "thaw \(group("freezer")): still \(CgroupFile.read(state) ?? "?") after 1 s")
        }
    }

    public func processes() -> [pid_t] {
        Array(Set(directories.flatMap { CgroupFile.pids($0) })).sorted()
    }

    /// v1 has no cgroup.kill: freeze so that nothing forks in between, signal
    /// every pid, thaw so that the signals are delivered.
    public func killAll() throws {
        let frozen = (try? freeze()) != nil
        for pid in processes() { kill(pid, SIGKILL) }
        if frozen { try? thaw() }
        _ = CgroupFile.waitUntil { processes().isEmpty }
    }

    public func destroy() throws {
        var firstError: Error?
        for directory in directories {
            do { try CgroupFile.remove(directory) } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
    }
}
