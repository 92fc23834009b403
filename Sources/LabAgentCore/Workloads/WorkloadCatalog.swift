import LabWire

/// A workload: its contract (name, parameters) and the work.
public struct WorkloadSpec: Sendable {
    public var contract: WorkloadContract
    public var body: @Sendable (WorkloadRun, inout Reporter) throws(AgentError) -> Void

    public var name: String { contract.name }
    public var summary: String { contract.summary }
    public var parameters: [ParameterSpec] { contract.parameters }
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
    /// The work of each workload the contracts name.
    static let bodies: [String: @Sendable (WorkloadRun, inout Reporter) throws(AgentError) -> Void] = [
        "noop": { _, _ in },
        "cpu": CPUWorkload.run,
        "memory": MemoryWorkload.run,
        "syscall": SyscallWorkload.run,
        "spawn": SpawnWorkload.run,
        "fileio": FileIOWorkload.run,
        "net": NetWorkload.run,
        "idle": IdleWorkload.run,
        "escape": EscapeWorkload.run,
        "append": AppendWorkload.run,
        "alloc": AllocWorkload.run,
    ]

    /// Every contract with its work, in the contracts' order (a contract without work is a build defect a test catches).
    public static let all: [WorkloadSpec] = WorkloadContracts.all.compactMap { contract in
        bodies[contract.name].map { WorkloadSpec(contract: contract, body: $0) }
    }

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
