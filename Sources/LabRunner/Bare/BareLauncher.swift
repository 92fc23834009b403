import CLabShim
import Glibc
import LabAgentCore
import LabCore

/// The agent run as a plain child process: the bare baseline every other
/// backend is compared with, and the measuring harness of the benchmarks.
public enum BareLauncher {
    /// What one run of the agent gave.
    public struct Outcome: Sendable {
        /// Monotonic host nanoseconds: `spawn_start` (just before posix_spawn),
        /// `spawned` (posix_spawn returned), `ready` (the READY line was
        /// read), `exited` (wait4 returned).
        public var timeline: [String: UInt64]
        public var lines: [AgentLine]
        /// The whole output, capped at `outputLimit` bytes.
        public var output: String
        /// The raw wait status.
        public var waitStatus: Int32
        /// User + system CPU time of the child, nanoseconds.
        public var cpuNs: UInt64
        /// Peak resident set size of the child, KiB.
        public var maxRSSKiB: Int

        public var exitedNormally: Bool { waitStatus & 0x7F == 0 }
        public var exitStatus: Int32 { (waitStatus >> 8) & 0xFF }

        /// Nanoseconds between two phases, when both happened.
        public func duration(_ from: String, _ to: String) -> UInt64? {
            guard let a = timeline[from], let b = timeline[to], b >= a else { return nil }
            return b - a
        }
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

        var timeline: [String: UInt64] = [:]
        var pid: pid_t = 0
        timeline["spawn_start"] = MonotonicClock.now()
        let err = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        timeline["spawned"] = MonotonicClock.now()
        close(writeEnd)
        guard err == 0 else {
            close(readEnd)
            throw LabError.syscall("posix_spawn \(executable)", errno: err)
        }

        var output: [UInt8] = []
        var lineStart = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        var timedOut = false
        var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        while true {
            let now = MonotonicClock.now()
            if now >= deadline { timedOut = true; break }
            let ready = poll(&poller, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
            if ready < 0 && errno != EINTR { break }
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            let stamp = MonotonicClock.now()
            if output.count < outputLimit { output.append(contentsOf: buffer[0..<min(n, outputLimit - output.count)]) }
            if timeline["ready"] == nil {
                // Look for a complete READY line among the new bytes only.
                while let newline = output[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
                    if output[lineStart..<newline].starts(with: Array("ISOLAB READY".utf8)) {
                        timeline["ready"] = stamp
                        break
                    }
                    lineStart = newline + 1
                }
            }
        }
        close(readEnd)
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw LabError.syscall("wait4 \(pid)") }
        }
        timeline["exited"] = MonotonicClock.now()
        let text = String(decoding: output, as: UTF8.self)
        if timedOut {
            throw LabError(.timeout, "\(executable) did not finish in \(timeout) s; last output: \(text.suffix(300))")
        }
        func ns(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1000 }
        return Outcome(
            timeline: timeline, lines: AgentLine.parseAll(text), output: text, waitStatus: status,
            cpuNs: ns(usage.ru_utime) + ns(usage.ru_stime), maxRSSKiB: usage.ru_maxrss)
    }
}
