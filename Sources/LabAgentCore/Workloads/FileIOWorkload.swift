import LabWire
import Glibc

/// Sequential write + fsync and read back of `--mib` MiB, then 4 KiB random
/// writes each followed by fsync, in a file under `--dir` (default /tmp) that
/// is always removed. The read follows POSIX_FADV_DONTNEED, which drops the
/// file's clean pages where the file system allows (not on tmpfs, where the
/// file lives in memory anyway).
enum FileIOWorkload {
    static func run(_ run: WorkloadRun, _ reporter: inout Reporter) throws(AgentError) {
        let mib = run.int("mib") ?? 64
        let path = (run.params["dir"] ?? "/tmp") + "/isolab-fileio-\(getpid())"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Sys.failure("fileio: create \(path)", workload: run.name) }
        defer {
            close(fd)
            unlink(path)
        }
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        for i in 0..<chunk { buffer[i] = UInt8(truncatingIfNeeded: i &* 131) }

        var start = Sys.monotonicNs()
        for _ in 0..<mib {
            try writeAll(fd, buffer, step: "fileio: write \(path)", workload: run.name)
        }
        guard fsync(fd) == 0 else { throw Sys.failure("fileio: fsync \(path)", workload: run.name) }
        var elapsed = Sys.monotonicNs() - start
        reporter.emit(run, metric: "seq_write", value: Double(mib * chunk) / 1e6 / (Double(elapsed) / 1e9), unit: "MB/s",
                      durationNs: elapsed)

        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        start = Sys.monotonicNs()
        var total = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, chunk, off_t(total)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw Sys.failure("fileio: read \(path)", workload: run.name) }
            if n == 0 { break }
            total += n
        }
        elapsed = Sys.monotonicNs() - start
        guard total == mib * chunk else {
            throw AgentError("fileio: read back \(total) bytes of \(mib * chunk)", workload: run.name)
        }
        reporter.emit(run, metric: "seq_read", value: Double(total) / 1e6 / (Double(elapsed) / 1e9), unit: "MB/s",
                      durationNs: elapsed)

        let blocks = mib * chunk / 4096
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let work = try repeatWork(rounds: run.int("count") ?? 200, seconds: run.seconds()) { () throws(AgentError) in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let block = Int(state >> 33) % blocks
            let n = buffer.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, off_t(block * 4096)) }
            guard n == 4096 else { throw Sys.failure("fileio: random write \(path)", workload: run.name) }
            guard fsync(fd) == 0 else { throw Sys.failure("fileio: fsync \(path)", workload: run.name) }
        }
        reporter.emit(run, metric: "rand_write_fsync", value: Double(work.rounds) / (Double(work.elapsedNs) / 1e9),
                      unit: "IOPS", durationNs: work.elapsedNs)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], step: String, workload: String) throws(AgentError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Sys.failure(step, workload: workload) }
            offset += n
        }
    }
}
