import LabWire
import Glibc

/// Does nothing for `--seconds` (or until SIGTERM, which ends the agent):
/// an instance that stays up, so that the lab can measure what it costs at
/// rest (memory, idle CPU) and run many at once. Reports how long it slept.
enum IdleWorkload {
    static func run(_ run: WorkloadRun, _ reporter: inout Reporter) throws(AgentError) {
        let seconds = run.seconds() ?? 0.5
        let start = Sys.monotonicNs()
        let deadline = start + Int64(seconds * 1e9)
        while true {
            let now = Sys.monotonicNs()
            if now >= deadline { break }
            let left = deadline - now
            var request = timespec(tv_sec: Int(left / 1_000_000_000), tv_nsec: Int(left % 1_000_000_000))
            var remaining = timespec()
            _ = nanosleep(&request, &remaining)
        }
        let elapsed = Sys.monotonicNs() - start
        reporter.emit(run, metric: "idle", value: Double(elapsed) / 1e9, unit: "s", durationNs: elapsed)
    }
}
