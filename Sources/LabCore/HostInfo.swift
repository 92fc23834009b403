#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Facts about the host that every result records.
public struct HostInfo: Codable, Sendable, Equatable {
    public var kernelRelease: String
    public var architecture: String
    public var cpuModel: String
    public var cpuCount: Int
    public var memoryTotalKiB: Int
    public var euid: UInt32

    public var isRoot: Bool { euid == 0 }

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
            euid: geteuid()
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
    public func trimmingWhitespace() -> String {
        String(self.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" }).reversed())
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
        guard pid > 0, let stat = FileSystem.readTextIfPresent("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")"),
              stat.index(close, offsetBy: 2) < stat.endIndex else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }
}
