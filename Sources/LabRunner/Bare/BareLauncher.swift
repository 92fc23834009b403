import CLabShim
import Glibc
import LabAgentCore
import LabCore

/// The agent run as a plain child process: the bare baseline every other
/// backend is compared with, and the measuring harness of the benchmarks.
public enum BareLauncher {
    /// What one run of the agent gave.
    public struct Outcome: Sendable {
        /// `spawn_start` (just before posix_spawn), `spawned` (posix_spawn
        /// returned), `ready` (the READY line was read), `exited` (wait4 returned).
        public var timeline: Timeline
        public var lines: [AgentLine]
        /// The whole output, capped at `outputLimit` bytes.
        public var output: String
        /// The raw wait status.
        public var waitStatus: Int32
        /// User + system CPU time of the child, nanoseconds.
        public var cpuNs: UInt64

        public var exitedNormally: Bool { waitStatus & 0x7F == 0 }
        public var exitStatus: Int32 { (waitStatus >> 8) & 0xFF }

        /// Nanoseconds between two phases, when both happened.
        public func duration(_ from: String, _ to: String) -> UInt64? { timeline.duration(from, to) }
    }

    public static let outputLimit = 1 << 20

    /// Spawns `executable` with `arguments` (argv[0] is the executable),
    /// stdout to a pipe that the lab reads, stdin and stderr from/to
    /// /dev/null; kills it after `timeout` seconds.
    public static func run(_ executable: String, _ arguments: [String], timeout: Double = 60) throws -> Outcome {
        var fds: [Int32] = [-1, -1]
        guard lab_pipe2(&fds, O_CLOEXEC) == 0 else { throw LabError.syscall("pipe2") }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nil]
        defer { envp.forEach { free($0) } }

        var timeline = Timeline()
        var pid: pid_t = 0
        timeline.mark("spawn_start")
        let err = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        timeline.mark("spawned")
        close(writeEnd)
        guard err == 0 else {
            close(readEnd)
            throw LabError.syscall("posix_spawn \(executable)", errno: err)
        }

        var collector = OutputCollector(limit: outputLimit)
        collector.drain(readEnd, deadline: MonotonicClock.now() + UInt64(timeout * 1e9))
        if let ready = collector.markerSeen { timeline.mark("ready", at: ready) }
        let timedOut = collector.timedOut
        close(readEnd)
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw LabError.syscall("wait4 \(pid)") }
        }
        timeline.mark("exited")
        let text = collector.text
        if timedOut {
            throw LabError(.timeout, "\(executable) did not finish in \(timeout) s; last output: \(text.suffix(300))")
        }
        func ns(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1000 }
        return Outcome(
            timeline: timeline, lines: AgentLine.parseAll(text), output: text, waitStatus: status,
            cpuNs: ns(usage.ru_utime) + ns(usage.ru_stime))
    }
}
