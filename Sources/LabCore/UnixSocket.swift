#if canImport(Glibc)
import Glibc
#endif
import LabModel

/// A Unix socket bound at a path: the VM's console (stream) and a system
/// container's notify socket (datagram) are both made this way.
public enum UnixSocket {
    /// A new close-on-exec socket of `type` bound at `path` (a stale file
    /// there is removed first); `what` names it in errors.
    public static func bound(_ type: Int32, at path: String, what: String) throws -> Int32 {
        var address = sockaddr_un()
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw LabError(.invalidInput, "\(what) path \(path) is too long for a Unix socket")
        }
        let fd = socket(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LabError.syscall("socket for \(path)") }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        unlink(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw LabError.syscall("bind \(path)")
        }
        return fd
    }
}
