import LabWire
import Glibc

/// The cost of entering and leaving the kernel: getppid, which glibc does not cache.
enum SyscallWorkload {
    static func run(_ run: WorkloadRun, _ reporter: inout Reporter) throws(AgentError) {
        let batch = 10_000
        let fixedRounds = max(1, (run.int("count") ?? 2_000_000) / batch)
        var sink: pid_t = 0
        let work = try repeatWork(rounds: fixedRounds, seconds: run.seconds()) {
            for _ in 0..<batch { sink &+= getppid() }
        }
        Sys.blackHole(sink)
        let calls = work.rounds * batch
        reporter.emit(run, metric: "getppid", value: Double(work.elapsedNs) / Double(calls), unit: "ns/call",
                      durationNs: work.elapsedNs)
    }
}
