import CLabShim
import Foundation
import LabCore
import LabModel

/// The Unix socket a guest's first serial port connects to. The lab listens
/// before the domain starts, so that no console byte is lost; the socket is
/// world-writable in a directory of its own because QEMU runs as another
/// user (`libvirt-qemu` on Debian) and must be able to connect.
final class ConsoleSocket: @unchecked Sendable {
    let path: String
    private var listener: Int32 = -1

    init(path: String) throws {
        self.path = path
        guard path.utf8.count < 108 else { throw LabError(.invalidInput, "console socket path \(path) is too long for a Unix socket") }
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw LabError.syscall("socket for \(path)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { Glibc.close(listener); throw LabError.syscall("bind \(path)") }
        guard chmod(path, 0o777) == 0, listen(listener, 1) == 0 else {
            Glibc.close(listener)
            throw LabError.syscall("listen on \(path)")
        }
    }

    /// The guest's connection, once QEMU has made it.
    func accept(deadline: UInt64) throws -> Int32 {
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        while MonotonicClock.now() < deadline {
            let ready = poll(&poller, 1, 100)
            if ready > 0 {
                let fd = Glibc.accept(listener, nil, nil)
                if fd >= 0 {
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                    return fd
                }
                if errno != EINTR && errno != EAGAIN { throw LabError.syscall("accept on \(path)") }
            }
        }
        throw LabError(.timeout, "QEMU did not connect to the console socket \(path)")
    }

    func close() {
        if listener >= 0 { Glibc.close(listener); listener = -1 }
        unlink(path)
    }

    deinit { close() }
}
