import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock(2)` on a file, held until `release()` or the process
/// ends (the kernel drops it with the descriptor, so a killed holder never
/// leaves a stale lock). The file is never removed: unlinking a lock file
/// lets two processes lock two different inodes.
public final class FileLock: @unchecked Sendable {
    public let path: String
    private var fd: Int32

    /// Who holds a lock, as its holder wrote it into the file.
    public struct Holder: Sendable, Equatable {
        public var pid: Int32
        public var startTime: UInt64?
        public var purpose: String

        /// `pid 1234 (isolab run scenarios/startup.yaml)`.
        public var description: String { "pid \(pid)" + (purpose.isEmpty ? "" : " (\(purpose))") }
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Blocks until the lock is held. `onWait` is called once, with the
    /// holder, if the lock is busy; `shouldStop` is polled while waiting
    /// (a signal), and ends the wait with `nil`.
    public static func acquire(_ path: String, purpose: String, wait: Bool,
                               onWait: (Holder?) -> Void = { _ in },
                               shouldStop: () -> Bool = { false }) throws -> FileLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LabError.syscall("open \(path)") }
        var told = false
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { break }
            let err = errno
            guard err == EWOULDBLOCK || err == EINTR else {
                close(fd)
                throw LabError.syscall("lock \(path)", errno: err)
            }
            if err == EINTR { continue }
            let holder = readHolder(path)
            guard wait else {
                close(fd)
                throw LabError(.busy, "\(path) is held by \(holder?.description ?? "another process"); wait for it to finish, or run without --no-wait to queue behind it")
            }
            if !told { onWait(holder); told = true }
            if shouldStop() { close(fd); return nil }
            usleep(100_000)
        }
        let lock = FileLock(path: path, fd: fd)
        lock.writeHolder(purpose: purpose)
        return lock
    }

    /// The holder recorded in the file, if the file names a live process.
    public static func readHolder(_ path: String) -> Holder? {
        guard let text = FileSystem.readTextIfPresent(path) else { return nil }
        let fields = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        guard let first = fields.first, let pid = Int32(first.trimmingWhitespace()) else { return nil }
        let start = fields.count > 1 ? UInt64(fields[1].trimmingWhitespace()) : nil
        guard ProcessState.isAlive(pid, startedAt: start) else { return nil }
        let purpose = fields.count > 2 ? String(fields[2]).trimmingWhitespace() : ""
        return Holder(pid: pid, startTime: start, purpose: purpose)
    }

    private func writeHolder(purpose: String) {
        let pid = getpid()
        let text = "\(pid)\n\(ProcessState.startTime(pid).map(String.init) ?? "")\n\(purpose)\n"
        _ = ftruncate(fd, 0)
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Releases the lock (and clears the holder, so a reader sees no one).
    public func release() {
        guard fd >= 0 else { return }
        _ = ftruncate(fd, 0)
        close(fd)
        fd = -1
    }

    deinit { release() }
}
