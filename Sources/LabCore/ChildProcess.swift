import CLabHost
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// Waiting for a child of the lab with a deadline: a pidfd polled until the
/// child exits (or the deadline), then reaped with wait4 for its status and
/// CPU time. Never waits past the deadline; never reaps another process.
public enum ChildProcess {
    public struct Ended: Sendable, Equatable {
        /// The raw wait status; -1 when another waiter of the lab reaped it first.
        public var status: Int32
        /// User + system CPU time of the child and the children it waited for, ns.
        public var cpuNs: UInt64

        public var exitedNormally: Bool { status & 0x7F == 0 }
        public var exitCode: Int32 { (status >> 8) & 0xFF }
        public var signal: Int32 { status & 0x7F }
    }

    /// The child's end, or nil if it still runs at `deadline` (monotonic ns).
    public static func wait(_ pid: pid_t, until deadline: UInt64) -> Ended? {
        let pidfd = Descriptors.processFD(pid)
        if pidfd >= 0 {
            defer { close(pidfd) }
            var poller = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            while true {
                let now = MonotonicClock.now()
                if now >= deadline { return nil }
                let ready = poll(&poller, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
                if ready > 0 { break }
                if ready < 0 && errno != EINTR { break }
            }
        } else {
            // No pidfd (old kernel): poll wait4 without blocking.
            while true {
                if let ended = reap(pid, options: WNOHANG) { return ended }
                if MonotonicClock.now() >= deadline { return nil }
                usleep(1000)
            }
        }
        return reap(pid, options: 0)
    }

    /// SIGKILL, then reap (at most a few seconds: a process in an
    /// uninterruptible sleep may take a moment to die).
    @discardableResult
    public static func kill(_ pid: pid_t) -> Ended? {
        Glibc.kill(pid, SIGKILL)
        return wait(pid, until: MonotonicClock.now() + 10_000_000_000)
    }

    static func reap(_ pid: pid_t, options: Int32) -> Ended? {
        var status: Int32 = 0
        var usage = rusage()
        while true {
            let result = wait4(pid, &status, options, &usage)
            if result == pid { break }
            if result == 0 { return nil }
            if errno == EINTR { continue }
            // ECHILD: reaped already (by a concurrent waiter of the lab's own).
            return Ended(status: -1, cpuNs: 0)
        }
        func ns(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1000 }
        return Ended(status: status, cpuNs: ns(usage.ru_utime) + ns(usage.ru_stime))
    }
}
