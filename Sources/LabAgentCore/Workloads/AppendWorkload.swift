import LabWire
import Glibc

/// Appends one byte to `--path`, `--count` times, timing each write (open,
/// write, close): on overlayfs the first write to a file of a lower layer
/// copies the whole file up first, the next ones do not. One RESULT per write.
enum AppendWorkload {
    static func run(_ run: WorkloadRun, _ reporter: inout Reporter) throws(AgentError) {
        let path = run.params["path"] ?? "/data/file"
        let count = Int(run.params["count"] ?? "2") ?? 2
        for _ in 0..<count {
            let start = Sys.monotonicNs()
            let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard fd >= 0 else { throw AgentError("open \(path): \(Sys.describe(errno))") }
            var byte: UInt8 = 0x0A
            let written = write(fd, &byte, 1)
            let err = errno
            close(fd)
            guard written == 1 else { throw AgentError("write \(path): \(Sys.describe(err))") }
            let elapsed = Sys.monotonicNs() - start
            reporter.emit(run, metric: "append", value: Double(elapsed) / 1e3, unit: "us", durationNs: elapsed)
        }
    }
}
