import CLabHost
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// The host's descriptor and thread calls that Swift's Glibc lacks, each
/// wrapped once here so that no other target reaches the C shim for them.
public enum Descriptors {
    /// A pipe, both ends close-on-exec from the start (pipe2 with O_CLOEXEC:
    /// no concurrent spawn inherits them).
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard lab_pipe2(&fds, O_CLOEXEC) == 0 else { throw LabError.syscall("pipe2") }
        return (fds[0], fds[1])
    }

    /// A pseudo-terminal pair (master, slave), both close-on-exec.
    public static func pseudoTerminal() throws -> (master: Int32, slave: Int32) {
        var master: Int32 = -1, slave: Int32 = -1
        let err = lab_open_pty(&master, &slave)
        guard err == 0 else { throw LabError.syscall("open a pseudo-terminal", errno: err) }
        return (master, slave)
    }

    /// A pidfd of `pid` (polls readable when it exits), or -1 with errno.
    public static func processFD(_ pid: pid_t) -> Int32 { lab_pidfd_open(pid) }
}

/// The calling thread's CPU affinity as a mask of the first 64 CPUs.
public enum ThreadAffinity {
    public static func current() throws -> UInt64 {
        var mask: UInt64 = 0
        let err = lab_thread_affinity(&mask)
        guard err == 0 else { throw LabError.syscall("read the thread's CPU affinity", errno: err) }
        return mask
    }

    public static func set(_ mask: UInt64) throws {
        let err = lab_set_thread_affinity(mask)
        guard err == 0 else { throw LabError.syscall("set the thread's CPU affinity", errno: err) }
    }

    /// The mask of CPU numbers (those at 64 and above are left out).
    public static func mask(_ cpus: [Int]) -> UInt64 {
        cpus.reduce(UInt64(0)) { $0 | (($1 >= 0 && $1 < 64) ? (1 << UInt64($1)) : 0) }
    }
}
