import LabWire
import Glibc

/// The few system helpers the agent needs, on Glibc alone.
public enum Sys {
    /// CLOCK_MONOTONIC in nanoseconds: every workload's own clock.
    @inline(__always)
    /// User + system CPU time of `who` (RUSAGE_SELF, RUSAGE_CHILDREN), ns.
    public static func cpuNs(_ who: __rusage_who_t) -> Int64 {
        var usage = rusage()
        guard getrusage(who, &usage) == 0 else { return 0 }
        func ns(_ t: timeval) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_usec) * 1000 }
        return ns(usage.ru_utime) + ns(usage.ru_stime)
    }

    public static func monotonicNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// CLOCK_BOOTTIME: time since this kernel booted (a VM's own uptime).
    public static func boottimeNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Writes the whole string, retrying short writes and EINTR.
    @discardableResult
    public static func write(_ fd: Int32, _ text: String) -> Bool {
        var text = text
        return text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }

    /// A small file's content (procfs, sysfs), or nil.
    public static func readFile(_ path: String, limit: Int = 1 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes.prefix(limit), as: UTF8.self)
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// `EACCES (permission denied)`, from the errno.
    public static func describe(_ err: Int32) -> String { ErrnoText.describe(err) }

    /// An AgentError for a failed system call, naming the step.
    public static func failure(_ step: String, workload: String? = nil, errno err: Int32 = errno) -> AgentError {
        AgentError("\(step): \(describe(err))", workload: workload)
    }

    /// argv[0], set once at start; the fallback of `executablePath()`.
    nonisolated(unsafe) static var argv0: String?

    /// The path of this executable: /proc/self/exe, or an absolute argv[0]
    /// where /proc is not mounted (a plain chroot).
    public static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return argv0.flatMap { $0.hasPrefix("/") ? $0 : nil } }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reaps every exited child without blocking (PID 1 inherits orphans).
    public static func reapChildren() {
        var status: Int32 = 0
        while waitpid(-1, &status, WNOHANG) > 0 {}
    }

    /// Waits for one child, retrying EINTR; its wait status.
    public static func wait(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return nil }
        }
        return status
    }

    /// Keeps a value alive so that the optimiser cannot drop the work that
    /// made it: the callee is neither inlined nor optimised, so the caller
    /// cannot know it has no effect.
    @inline(never) @_optimize(none)
    public static func blackHole<T>(_ value: T) {}
}
