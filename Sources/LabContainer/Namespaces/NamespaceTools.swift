import CLabHost
import LabCore
import LabModel

/// What the lab does to containers' namespaces from the host: join two by a
/// veth pair, use the IPC namespace's message queues, mount in a
/// container's mount namespace on its behalf. The C is in CLabHost; this is
/// its one Swift door.
public enum NamespaceTools {
    /// A veth pair `name` between the network namespaces of `a` and `b`,
    /// each end with its address and `prefix`, both up. Blocks: call it off
    /// the cooperative pool.
    public static func vethPair(_ a: pid_t, _ addressA: String, _ b: pid_t, _ addressB: String, name: String = "isl0", prefix: Int32 = 24) throws {
        let err = lab_veth_pair(a, name, addressA, b, name, addressB, prefix)
        guard err == 0 else { throw LabError.syscall("create a veth pair between two containers", errno: err) }
    }

    /// A POSIX message queue `name` (`/isolab-...`) in the calling process's IPC namespace.
    public static func createMessageQueue(_ name: String) throws {
        let err = lab_mq_create(name)
        guard err == 0 else { throw LabError.syscall("mq_open \(name)", errno: err) }
    }

    /// Whether queue `name` exists in the calling process's IPC namespace.
    public static func messageQueueExists(_ name: String) throws -> Bool {
        let answer = lab_mq_exists(name)
        guard answer >= 0 else { throw LabError.syscall("mq_open \(name)", errno: -answer) }
        return answer == 1
    }

    public static func removeMessageQueue(_ name: String) { _ = lab_mq_unlink(name) }

    /// A small tmpfs at `target` inside the mount namespace of `pid`. Blocks (it forks).
    public static func mountTmpfs(inMountNamespaceOf pid: pid_t, at target: String) throws {
        let err = lab_mount_tmpfs_in(pid, target)
        guard err == 0 else { throw LabError.syscall("mount a tmpfs at \(target) in the container's mount namespace", errno: err) }
    }
}
