import LabModel
import LabWire

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
    public static func describe(_ err: Int32) -> String { ErrnoText.describe(err) }

    /// The bare symbol, `EACCES`.
    public static func name(_ err: Int32) -> String { ErrnoText.name(err) }
}
