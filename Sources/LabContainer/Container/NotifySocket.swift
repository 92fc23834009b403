import CLabHost
import Foundation
import LabCore
import LabModel

/// systemd's notify protocol (sd_notify(3)) for a system container: a
/// datagram socket the lab binds in the container's run directory, bound
/// read-only at `/run/host` inside and named by `NOTIFY_SOCKET`. PID 1
/// sends `READY=1` once its boot is over (when the job queue empties, the
/// instant `systemd-analyze` calls "Startup finished"): the lab marks it on
/// the container's timeline as `systemd_ready`, a second finish line beside
/// the agent's READY. Only root on the host and the container can reach the
/// socket (the state directory is private); a datagram is a timing marker,
/// never an instruction.
final class NotifySocket: @unchecked Sendable {
    /// Where PID 1 finds it inside the container.
    static let pathInside = "/run/host/notify"

    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var stopped = false
    private var watching = false

    init(path: String) throws {
        fd = try UnixSocket.bound(Int32(SOCK_DGRAM.rawValue), at: path, what: "notify socket")
        self.path = path
        // The kernel's arrival stamp, not the reader's: READY=1 and the
        // agent's READY are two finish lines, and a reader thread late on a
        // loaded host once put READY=1 after the agent's READY.
        let status = lab_enable_receive_timestamps(fd)
        guard status == 0 else {
            Glibc.close(fd)
            throw LabError.syscall("setsockopt SO_TIMESTAMPNS on \(path)", errno: status)
        }
    }

    /// On a thread of its own until `READY=1` arrives or `stop()`: calls
    /// `onReady` with the instant the kernel received it, then closes the socket.
    func watch(onReady: @escaping @Sendable (UInt64) -> Void) {
        lock.withLock { watching = true }
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while !lock.withLock({ stopped }) {
                guard poll(&entry, 1, 100) > 0 else { continue }
                var stamp: UInt64 = 0
                let n = buffer.withUnsafeMutableBytes { lab_recv_stamped(fd, $0.baseAddress, $0.count, &stamp) }
                guard n > 0 else { continue }
                let message = String(decoding: buffer[0..<Int(n)], as: UTF8.self)
                if message.split(separator: "\n").contains("READY=1") {
                    onReady(stamp)
                    break
                }
            }
            Glibc.close(fd)
        }
    }

    /// Ends the watch (the thread closes the socket within 0.1 s).
    func stop() {
        let closeHere = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !watching && !stopped
        }
        if closeHere { Glibc.close(fd) }
    }
}
