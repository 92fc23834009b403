import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// cgroup v2 (unified hosts): one group, `<unified>/isolab/<id>`, with the
/// memory, cpu and pids controllers enabled down to it.
public struct CgroupV2Manager: CgroupManager {
    public let group: String

    public init(group: String) {
        self.group = group
    }

    public var directories: [String] { [group] }
    public var memoryPeakInstrument: String { "cgroup v2 memory.peak" }
    public var cpuInstrument: String { "cgroup v2 cpu.stat usage_usec" }

    var parent: String { String(group[..<(group.lastIndex(of: "/") ?? group.endIndex)]) }
    var root: String { String(parent[..<(parent.lastIndex(of: "/") ?? parent.endIndex)]) }

    public func create(limits: CgroupLimits) throws {
        try FileSystem.createDirectory(parent, mode: 0o755, parents: 0o755)
        // A child sees only the controllers its parent enables for it: the
        // ones the limits need, of those the hierarchy has (the cgroup2 mount
        // of a hybrid host may have none; devices need no controller).
        var needed: [String] = []
        if limits.memoryBytes != nil { needed.append("memory") }
        if limits.cpus != nil || limits.cpuWeight != nil { needed.append("cpu") }
        if limits.pids != nil { needed.append("pids") }
        for directory in [root, parent] {
            let available = Set((CgroupFile.read(directory + "/cgroup.controllers") ?? "cpu memory pids").split(separator: " ").map(String.init))
            let current = CgroupFile.read(directory + "/cgroup.subtree_control") ?? ""
            let enabled = Set(current.split(separator: " ").map(String.init))
            let wanted = ["cpu", "memory", "pids"].filter { !enabled.contains($0) && (available.contains($0) || needed.contains($0)) }
            if !wanted.isEmpty {
                try CgroupFile.write(directory + "/cgroup.subtree_control", wanted.map { "+" + $0 }.joined(separator: " "))
            }
        }
        try CgroupFile.createGroup(group)
        do {
            if limits.restrictDevices { try DeviceRules.attach(to: group) }
            if let bytes = limits.memoryBytes {
                try CgroupFile.write(group + "/memory.max", String(bytes))
                if FileSystem.exists(group + "/memory.swap.max") {
                    try CgroupFile.write(group + "/memory.swap.max", "0")
                }
            }
            if let cpus = limits.cpus {
                let period = CgroupLimits.cpuPeriodMicroseconds
                try CgroupFile.write(group + "/cpu.max", "\(Int(cpus * Double(period))) \(period)")
            }
            if let weight = limits.cpuWeight {
                try CgroupFile.write(group + "/cpu.weight", String(weight))
            }
            if let pids = limits.pids {
                try CgroupFile.write(group + "/pids.max", String(pids))
            }
        } catch {
            try? CgroupFile.remove(group)
            throw error
        }
    }

    public func addProcess(_ pid: pid_t) throws {
        try CgroupFile.write(group + "/cgroup.procs", String(pid))
    }

    public func stats() -> CgroupStats {
        var stats = CgroupStats()
        stats.cpuUsageNs = CgroupFile.keyed(group + "/cpu.stat", "usage_usec").map { $0 * 1000 }
        stats.memoryCurrentBytes = CgroupFile.number(group + "/memory.current")
        stats.memoryPeakBytes = CgroupFile.number(group + "/memory.peak")
        stats.oomKills = CgroupFile.keyed(group + "/memory.events", "oom_kill").map { Int($0) }
        stats.pidsCurrent = CgroupFile.number(group + "/pids.current").map { Int($0) }
        stats.pidsPeak = CgroupFile.number(group + "/pids.peak").map { Int($0) }
        stats.pidsLimitHits = CgroupFile.keyed(group + "/pids.events", "max").map { Int($0) }
        return stats
    }

    public func freeze() throws {
        try CgroupFile.write(group + "/cgroup.freeze", "1")
        guard CgroupFile.waitUntil({ CgroupFile.keyed(group + "/cgroup.events", "frozen") == 1 }) else {
            throw LabError(.timeout, "freeze \(group): cgroup.events does not say frozen after 1 s")
        }
    }

    public func thaw() throws {
        try CgroupFile.write(group + "/cgroup.freeze", "0")
        guard CgroupFile.waitUntil({ CgroupFile.keyed(group + "/cgroup.events", "frozen") == 0 }) else {
            throw LabError(.timeout, "thaw \(group): cgroup.events still says frozen after 1 s")
        }
    }

    public func processes() -> [pid_t] { CgroupFile.pidsRecursively(group) }

    /// cgroup.kill (Linux 5.14) kills the whole group at once, forks included;
    /// without it, every pid is signalled until none is left.
    public func killAll() throws {
        if FileSystem.exists(group + "/cgroup.kill") {
            try CgroupFile.write(group + "/cgroup.kill", "1")
        } else {
            for pid in processes() { kill(pid, SIGKILL) }
        }
        _ = CgroupFile.waitUntil { processes().isEmpty }
    }

    public func destroy() throws {
        try CgroupFile.remove(group)
    }
}
