import CLabShim
import LabModel

#if canImport(Glibc)
import Glibc
#endif

extension LabError {
    /// An error from a system call: `create cgroup /x: EACCES (permission denied)`.
    public static func syscall(_ step: String, errno err: Int32) -> LabError {
        LabError(.systemCall, "\(step): \(Errno.describe(err))")
    }

    /// The same, reading the calling thread's errno.
    public static func syscall(_ step: String) -> LabError {
        syscall(step, errno: errno)
    }
}

/// Names for errno values, as the lab prints them.
public enum Errno {
    /// `EACCES (permission denied)`.
    public static func describe(_ err: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 320)
        lab_errno_describe(err, &buffer, buffer.count)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The bare symbol, `EACCES`.
    public static func name(_ err: Int32) -> String {
        lab_errno_name(err).map { String(cString: $0) } ?? "errno \(err)"
    }
}
