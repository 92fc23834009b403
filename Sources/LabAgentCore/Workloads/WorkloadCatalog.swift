/// A workload: its name, its parameters, and the work.
public struct WorkloadSpec: Sendable {
    public var name: String
    public var summary: String
    public var parameters: [ParameterSpec]
    public var body: @Sendable (WorkloadRun, inout Reporter) throws(AgentError) -> Void
}

/// Collects a workload's results into RESULT lines.
public struct Reporter {
    public var results: [AgentResult] = []
    let write: (String) -> Void

    public init(write: @escaping (String) -> Void) {
        self.write = write
    }

    public mutating func emit(_ run: WorkloadRun, metric: String, value: Double, unit: String, durationNs: Int64) {
        let result = AgentResult(workload: run.name, params: run.params, metric: metric, value: value, unit: unit, durationNs: durationNs)
        results.append(result)
        write(AgentProtocol.result(result))
    }
}

public enum WorkloadCatalog {
    static let seconds = ParameterSpec(
        name: "seconds", kind: .seconds(0.001...3600), defaultValue: nil,
        help: "run for this long instead of the fixed amount of work")
    static func mib(_ defaultValue: Int, _ help: String) -> ParameterSpec {
        ParameterSpec(name: "mib", kind: .integer(1...65_536), defaultValue: String(defaultValue), help: help)
    }
    static func count(_ defaultValue: Int, _ help: String) -> ParameterSpec {
        ParameterSpec(name: "count", kind: .integer(1...1_000_000_000), defaultValue: String(defaultValue), help: help)
    }

    public static let all: [WorkloadSpec] = [
        WorkloadSpec(name: "noop", summary: "nothing: the cost of starting alone", parameters: [], body: { _, _ in }),
        WorkloadSpec(
            name: "cpu", summary: "prime sieve (integer), SHA-256 (integer), multiply-add chain (floating point)",
            parameters: [seconds], body: CPUWorkload.run),
        WorkloadSpec(
            name: "memory", summary: "STREAM copy, scale, add and triad",
            parameters: [mib(64, "MiB per array (three arrays)"), seconds], body: MemoryWorkload.run),
        WorkloadSpec(
            name: "syscall", summary: "a tight loop of getppid",
            parameters: [count(2_000_000, "calls"), seconds], body: SyscallWorkload.run),
        WorkloadSpec(
            name: "spawn", summary: "posix_spawn + wait of the agent itself running noop",
            parameters: [count(100, "spawns"), seconds], body: SpawnWorkload.run),
        WorkloadSpec(
            name: "fileio", summary: "sequential write+fsync and read back, 4 KiB random writes with fsync",
            parameters: [
                mib(64, "MiB written sequentially"), count(200, "random 4 KiB writes"),
                ParameterSpec(name: "dir", kind: .path, defaultValue: "/tmp", help: "directory of the test file"), seconds,
            ], body: FileIOWorkload.run),
        WorkloadSpec(
            name: "net", summary: "TCP over loopback: round-trip latency and bulk throughput",
            parameters: [count(2000, "round trips"), mib(64, "MiB sent in bulk"), seconds], body: NetWorkload.run),
        WorkloadSpec(
            name: "idle", summary: "nothing for --seconds: an instance at rest, to measure its memory and idle CPU",
            parameters: [ParameterSpec(name: "seconds", kind: .seconds(0.001...86_400), defaultValue: "0.5", help: "how long to stay up")],
            body: IdleWorkload.run),
        WorkloadSpec(
            name: "escape", summary: "the escape suite: attempts root in a container must be refused (value: the errno, 0 when allowed)",
            parameters: [
                ParameterSpec(name: "only", kind: .text, defaultValue: "all", help: "one probe, or all"),
                ParameterSpec(name: "dev", kind: .text, defaultValue: "", help: "MAJOR:MINOR of the host's root block device"),
                ParameterSpec(name: "target", kind: .integer(0...4_194_304), defaultValue: "0", help: "a host process to try to ptrace"),
                ParameterSpec(name: "marker", kind: .path, defaultValue: "/nonexistent", help: "a host path the chroot escape looks for"),
                ParameterSpec(name: "take-tty", kind: .integer(0...1), defaultValue: "0", help: "first make stdin the controlling terminal"),
            ], body: EscapeWorkload.run),
        WorkloadSpec(
            name: "append", summary: "append one byte to --path, --count times, timing each write (an overlayfs copy-up shows in the first)",
            parameters: [
                ParameterSpec(name: "path", kind: .path, defaultValue: "/data/file", help: "the file to append to"),
                count(2, "writes"),
            ], body: AppendWorkload.run),
        WorkloadSpec(
            name: "alloc", summary: "touch --mib MiB and hold it for --hold-ms (to show a memory limit)",
            parameters: [
                mib(64, "MiB to touch"),
                ParameterSpec(name: "hold-ms", kind: .integer(0...3_600_000), defaultValue: "0", help: "hold the memory this long"),
            ], body: AllocWorkload.run),
    ]

    public static var names: [String] { all.map(\.name) }

    public static func spec(_ name: String) -> WorkloadSpec? {
        all.first { $0.name == name }
    }
}

/// Runs a body repeatedly: a fixed number of times, or until a time budget is
/// spent (at least once). Returns the rounds done, the elapsed nanoseconds
/// and the fastest round's nanoseconds.
@inline(__always)
func repeatWork(
    rounds fixed: Int, seconds: Double?, _ body: () throws(AgentError) -> Void
) throws(AgentError) -> (rounds: Int, elapsedNs: Int64, bestNs: Int64) {
    let start = Sys.monotonicNs()
    var rounds = 0
    var best = Int64.max
    var last = start
    let budget = seconds.map { Int64($0 * 1e9) }
    repeat {
        try body()
        rounds += 1
        let now = Sys.monotonicNs()
        best = min(best, now - last)
        last = now
        if let budget {
            if now - start >= budget { break }
        } else if rounds >= fixed {
            break
        }
    } while true
    return (rounds, max(last - start, 1), max(best, 1))
}
