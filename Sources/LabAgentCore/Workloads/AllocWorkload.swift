import LabWire
import Glibc

/// Touches `--mib` MiB, one write per page, and holds it `--hold-ms`: under a
/// memory limit smaller than that, the kernel's OOM killer ends the agent.
enum AllocWorkload {
    static func run(_ run: WorkloadRun, _ reporter: inout Reporter) throws(AgentError) {
        let mib = run.int("mib") ?? 64
        let bytes = mib * 1024 * 1024
        let start = Sys.monotonicNs()
        guard let memory = malloc(bytes) else {
            throw AgentError("alloc: cannot allocate \(mib) MiB", workload: run.name)
        }
        defer { free(memory) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let base = memory.bindMemory(to: UInt8.self, capacity: bytes)
        var offset = 0
        while offset < bytes {
            base[offset] = 1
            offset += page
        }
        let touched = Sys.monotonicNs() - start
        if let hold = run.int("hold-ms"), hold > 0 {
            var request = timespec(tv_sec: hold / 1000, tv_nsec: (hold % 1000) * 1_000_000)
            var remaining = timespec()
            while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
        }
        Sys.blackHole(base[bytes / 2])
        reporter.emit(run, metric: "touched", value: Double(mib), unit: "MiB", durationNs: Sys.monotonicNs() - start)
        reporter.emit(run, metric: "touch_rate", value: Double(bytes) / 1e6 / (Double(max(touched, 1)) / 1e9), unit: "MB/s",
                      durationNs: touched)
    }
}
