import LabModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension HostInfo {
    /// This host, now.
    public static func current() -> HostInfo {
        var names = utsname()
        uname(&names)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
        }
        let cpuinfo = FileSystem.readTextIfPresent("/proc/cpuinfo") ?? ""
        let model = cpuinfo.split(separator: "\n")
            .first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingWhitespace() } ?? "unknown"
        let meminfo = FileSystem.readTextIfPresent("/proc/meminfo") ?? ""
        return HostInfo(
            kernelRelease: field(names.release),
            architecture: field(names.machine),
            cpuModel: model,
            cpuCount: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
            memoryTotalKiB: MemInfo.value("MemTotal", in: meminfo) ?? 0,
            euid: geteuid(),
            bootID: FileSystem.readTextIfPresent("/proc/sys/kernel/random/boot_id")?.trimmingWhitespace(),
            kernelVersion: FileSystem.readTextIfPresent("/proc/sys/kernel/version")?.trimmingWhitespace()
        )
    }
}

/// Reads `Key:   123 kB` lines (`/proc/meminfo`, `/proc/<pid>/status`
/// with a tab after the colon, `smaps_rollup`).
public enum MemInfo {
    public static func value(_ key: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let digits = line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
            return digits.flatMap { Int($0) }
        }
        return nil
    }
}

extension Substring {
    /// Without leading spaces and tabs and trailing spaces, tabs and
    /// newlines. By bytes: the nested reversed views this once used cost a
    /// generic-metadata lookup per call, 2 % of `isolab container run`.
    public func trimmingWhitespace() -> String {
        let bytes = utf8
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start = bytes.index(after: start) }
        while end > start {
            let last = bytes.index(before: end)
            guard bytes[last] == 0x20 || bytes[last] == 0x09 || bytes[last] == 0x0A else { break }
            end = last
        }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}

extension String {
    public func trimmingWhitespace() -> String {
        self[...].trimmingWhitespace()
    }
}

/// Whether a process is alive: exists and is not a zombie. A lab killed
/// with SIGKILL stays a zombie until its parent reaps it, and signal 0
/// still reaches a zombie, so `kill(pid, 0)` alone would call it alive.
public enum ProcessState {
    public static func isAlive(_ pid: Int32) -> Bool {
        guard let fields = statFields(pid), let state = fields.first else { return false }
        return state != "Z" && state != "X"
    }

    /// Alive, and the same process that was recorded: its start time (clock
    /// ticks after boot) matches, so a reused pid does not count. A record
    /// without a start time (an older lab) falls back to the pid alone.
    public static func isAlive(_ pid: Int32, startedAt: UInt64?) -> Bool {
        guard isAlive(pid) else { return false }
        guard let startedAt else { return true }
        return startTime(pid) == startedAt
    }

    /// `/proc/PID/stat` field 22, starttime: fixed for a process's life.
    public static func startTime(_ pid: Int32) -> UInt64? {
        guard let fields = statFields(pid), fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// User + system CPU time (fields 14 and 15, clock ticks), ns.
    public static func cpuNs(_ pid: Int32) -> UInt64? {
        guard let fields = statFields(pid), fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        let ticks = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        return (user + system) * 1_000_000_000 / ticks
    }

    /// User + system CPU time of `pids` together, ns (a pid gone counts 0).
    public static func cpuNs(of pids: [Int32]) -> UInt64 {
        pids.reduce(0) { $0 + (cpuNs($1) ?? 0) }
    }

    /// The parent pid (field 4).
    public static func parent(_ pid: Int32) -> Int32? {
        guard let fields = statFields(pid), fields.count > 1 else { return nil }
        return Int32(fields[1])
    }

    /// The fields after the command name, from field 3 (state) on: the
    /// command may contain spaces and parentheses, so split after the last ')'.
    static func statFields(_ pid: Int32) -> [Substring]? {
        guard pid > 0, let stat = FileSystem.readTextIfPresent("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.isEmpty ? nil : fields
    }
}

/// The processes below a process, from /proc.
public enum ProcessTree {
    /// Every descendant of `pid` alive now (children first), from each
    /// thread's `children` list (cheap enough to sample every few ms).
    public static func descendants(of pid: Int32) -> [Int32] {
        var result: [Int32] = []
        var queue = children(of: pid)
        while !queue.isEmpty {
            let next = queue.removeFirst()
            result.append(next)
            queue += children(of: next)
        }
        return result
    }

    /// Processes (not this one) whose command line contains `tag`: a
    /// daemonized helper (podman's conmon), or what a build started.
    public static func processes(mentioning tag: String) -> [Int32] {
        FileSystem.list("/proc").compactMap { entry -> Int32? in
            guard let pid = Int32(entry), pid != getpid(), let cmdline = FileSystem.readTextIfPresent("/proc/\(pid)/cmdline") else { return nil }
            return cmdline.contains(tag) ? pid : nil
        }
    }

    static func children(of pid: Int32) -> [Int32] {
        var found: [Int32] = []
        for task in FileSystem.list("/proc/\(pid)/task") {
            let text = FileSystem.readTextIfPresent("/proc/\(pid)/task/\(task)/children") ?? ""
            found += text.split(separator: " ").compactMap { Int32($0.trimmingWhitespace()) }
        }
        return found
    }
}
