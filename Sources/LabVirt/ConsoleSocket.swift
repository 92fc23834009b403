import CLabHost
import Foundation
import LabCore
import Logging
import LabModel

/// The Unix socket a guest's first serial port connects to. The lab listens
/// before the domain starts, so that no console byte is lost. QEMU runs as
/// another user (`libvirt-qemu` on Debian) and must be able to connect, so
/// the socket is writable by it, in a directory of the guest's own that only
/// that user (and root) may enter; and the lab takes only the connection
/// whose peer is the domain's QEMU process.
final class ConsoleSocket: @unchecked Sendable {
    let path: String
    private var listener: Int32 = -1

    init(path: String) throws {
        self.path = path
        listener = try UnixSocket.bound(Int32(SOCK_STREAM.rawValue), at: path, what: "console socket")
        guard chmod(path, 0o777) == 0, listen(listener, 1) == 0 else {
            Glibc.close(listener)
            throw LabError.syscall("listen on \(path)")
        }
    }

    /// The guest's connection, once QEMU has made it. Only a peer whose
    /// process (SO_PEERCRED) is `expectedPID`, the domain's QEMU, is taken;
    /// any other is closed and logged, and the wait goes on: a local user
    /// who connects first cannot feed the lab READY or RESULT lines.
    func accept(deadline: UInt64, expectedPID: Int32?, expectedUID: uid_t? = nil) throws -> Int32 {
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        while MonotonicClock.now() < deadline {
            let ready = poll(&poller, 1, 100)
            if ready > 0 {
                let fd = Glibc.accept(listener, nil, nil)
                if fd >= 0 {
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                    var peerPID: Int32 = 0
                    var peerUID: UInt32 = 0
                    let known = lab_peer_credentials(fd, &peerPID, &peerUID) == 0
                    let trusted = known && (expectedPID.map { peerPID == $0 } ?? expectedUID.map { peerUID == $0 } ?? false)
                    if trusted { return fd }
                    Glibc.close(fd)
                    refused.append(known ? "pid \(peerPID) (uid \(peerUID))" : "an unknown peer")
                    Logger(label: "isolab.console").warning("refused a connection to the console socket that is not the guest's QEMU",
                                                            metadata: ["path": "\(path)", "peer": "\(refused.last!)", "qemu": "\(expectedPID.map(String.init) ?? "?")"])
                    continue
                }
                if errno != EINTR && errno != EAGAIN { throw LabError.syscall("accept on \(path)") }
            }
        }
        throw LabError(.timeout, "QEMU did not connect to the console socket \(path)" + (refused.isEmpty ? "" : "; refused: \(refused.joined(separator: ", "))"))
    }

    /// Peers refused so far, for the error and the tests.
    private(set) var refused: [String] = []

    func close() {
        if listener >= 0 { Glibc.close(listener); listener = -1 }
        unlink(path)
    }

    deinit { close() }
}
