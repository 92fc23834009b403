import LabWire
import Glibc

/// STREAM's four kernels over three arrays of `--mib` MiB each; like STREAM,
/// the best rate over the rounds is reported (the least disturbed one).
enum MemoryWorkload {
    static func run(_ run: WorkloadRun, _ reporter: inout Reporter) throws(AgentError) {
        let mib = run.int("mib") ?? 64
        let n = mib * 1024 * 1024 / MemoryLayout<Double>.stride
        guard let raw = malloc(3 * n * MemoryLayout<Double>.stride) else {
            throw AgentError("memory: cannot allocate 3 × \(mib) MiB", workload: run.name)
        }
        defer { free(raw) }
        let a = raw.bindMemory(to: Double.self, capacity: 3 * n)
        let b = a + n
        let c = b + n
        for i in 0..<n {
            a[i] = 1.0
            b[i] = 2.0
            c[i] = 0.0
        }
        let scalar = 3.0
        var best = [Int64](repeating: .max, count: 4)
        let start = Sys.monotonicNs()
        let rounds = try repeatWork(rounds: 5, seconds: run.seconds()) {
            var t = Sys.monotonicNs()
            for i in 0..<n { c[i] = a[i] }
            var now = Sys.monotonicNs(); best[0] = min(best[0], now - t); t = now
            for i in 0..<n { b[i] = scalar * c[i] }
            now = Sys.monotonicNs(); best[1] = min(best[1], now - t); t = now
            for i in 0..<n { c[i] = a[i] + b[i] }
            now = Sys.monotonicNs(); best[2] = min(best[2], now - t); t = now
            for i in 0..<n { a[i] = b[i] + scalar * c[i] }
            now = Sys.monotonicNs(); best[3] = min(best[3], now - t)
        }
        let elapsed = Sys.monotonicNs() - start
        Sys.blackHole(a[n / 2] + b[n / 3] + c[n - 1])
        let bytes = Double(n * MemoryLayout<Double>.stride)
        let kernels: [(String, Double)] = [("copy", 2), ("scale", 2), ("add", 3), ("triad", 3)]
        for (index, (name, arrays)) in kernels.enumerated() {
            reporter.emit(run, metric: name, value: arrays * bytes / 1e6 / (Double(max(best[index], 1)) / 1e9),
                          unit: "MB/s", durationNs: elapsed)
        }
        // Every kernel's bytes over the whole time: what was moved, time unscheduled included.
        reporter.emit(run, metric: "sustained", value: Double(rounds.rounds) * 10 * bytes / 1e6 / (Double(max(elapsed, 1)) / 1e9),
                      unit: "MB/s", durationNs: elapsed)
    }
}
