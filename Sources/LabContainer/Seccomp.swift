import CLibseccomp
import Foundation
import LabCore
import LabModel

/// The container's seccomp filter: the one place the lab calls libseccomp.
/// The filter is built and compiled to BPF in the parent (libseccomp
/// allocates; the child after clone may not), and the child loads the
/// compiled program with one system call just before exec, after
/// no_new_privs.
public enum Seccomp {
    public typealias Profile = SeccompProfile

    /// The system calls the default profile refuses (EPERM): those Docker's
    /// default profile leaves out for a container without CAP_SYS_ADMIN,
    /// on x86_64. Names this libseccomp does not know are skipped.
    public static let denied = [
        // the kernel, modules, booting
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module", "query_module",
        "get_kernel_syms", "reboot",
        // mounts and namespaces
        "mount", "umount2", "pivot_root", "unshare", "setns", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree",
        "move_mount", "mount_setattr",
        // introspection, eBPF, perf
        "bpf", "perf_event_open", "lookup_dcookie", "syslog", "kcmp", "pidfd_getfd", "process_madvise",
        // the kernel's keyrings
        "add_key", "request_key", "keyctl",
        // the clock
        "settimeofday", "clock_settime", "stime",
        // accounting, quotas, swap
        "acct", "quotactl", "quotactl_fd", "swapon", "swapoff",
        // raw I/O
        "iopl", "ioperm",
        // identity
        "sethostname", "setdomainname",
        // file handles
        "open_by_handle_at",
        // NUMA placement
        "get_mempolicy", "set_mempolicy", "set_mempolicy_home_node", "mbind", "migrate_pages", "move_pages",
        // io_uring, userfaultfd, fanotify, vhangup
        "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "fanotify_init", "vhangup",
        // obsolete or unimplemented
        "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "afs_syscall", "getpmsg", "putpmsg", "security", "tuxcall",
        "vserver", "vm86", "vm86old",
    ]

    /// ioctl requests refused: TIOCSTI (input injection) and TIOCLINUX.
    public static var refusedIoctls: [UInt64] { [UInt64(lab_tiocsti()), UInt64(lab_tioclinux())] }
    /// Socket families Docker refuses: AF_ALG (38) and AF_VSOCK (40).
    public static let refusedSocketFamilies: [UInt64] = [38, 40]

    /// CLONE_NEW* flags: clone with any of them is refused, as unshare is.
    public static let namespaceFlags: [UInt64] = [0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000]

    /// The compiled default filter, built once per process.
    public static let defaultFilter: Result<[UInt8], LabError> = Result { try compile() }.mapError { $0 as? LabError ?? LabError(.failed, "\($0)") }

    /// The filter's BPF program (an array of `struct sock_filter`), or nil
    /// for `unconfined`.
    public static func program(_ profile: Profile) throws -> [UInt8]? {
        switch profile {
        case .unconfined: return nil
        case .default: return try defaultFilter.get()
        }
    }

    /// Builds the default profile with libseccomp and exports its BPF: a
    /// default of allow, EPERM for the names above, clone with a namespace
    /// flag, TIOCSTI and TIOCLINUX; clone3 answers ENOSYS (glibc falls back
    /// to clone only on ENOSYS, and clone's flags can be filtered there).
    static func compile() throws -> [UInt8] {
        guard let context = seccomp_init(SCMP_ACT_ALLOW) else { throw LabError(.failed, "seccomp_init failed") }
        defer { seccomp_release(context) }
        // 32-bit calls are filtered by the same rules rather than killed.
        // A binary tree of syscall numbers rather than a linear list: every
        // system call of the container runs the filter (its cost per call:
        // docs/scenarios.md, the overhead run).
        _ = seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        let added = seccomp_arch_add(context, UInt32(SCMP_ARCH_X86))
        guard added == 0 || added == -EEXIST else { throw LabError.syscall("seccomp_arch_add x86", errno: -added) }
        let eperm = lab_scmp_act_errno(UInt16(EPERM))
        func rule(_ action: UInt32, _ name: String, _ conditions: [scmp_arg_cmp] = []) throws {
            let number = seccomp_syscall_resolve_name(name)
            guard number != Int32(__NR_SCMP_ERROR) else { return }
            let result = conditions.withUnsafeBufferPointer {
                seccomp_rule_add_array(context, action, number, UInt32($0.count), $0.baseAddress)
            }
            guard result == 0 else { throw LabError.syscall("seccomp rule for \(name)", errno: -result) }
        }
        for name in denied { try rule(eperm, name) }
        try rule(lab_scmp_act_errno(UInt16(ENOSYS)), "clone3")
        for flag in namespaceFlags { try rule(eperm, "clone", [lab_scmp_masked_eq(0, flag, flag)]) }
        for request in refusedIoctls { try rule(eperm, "ioctl", [lab_scmp_masked_eq(1, 0xFFFF_FFFF, request)]) }
        for family in refusedSocketFamilies { try rule(eperm, "socket", [lab_scmp_eq(0, family)]) }

        // libseccomp 2.5 exports only to a descriptor: a memfd, read back.
        let fd = lab_memfd("isolab-seccomp")
        guard fd >= 0 else { throw LabError.syscall("memfd_create") }
        defer { close(fd) }
        let exported = seccomp_export_bpf(context, fd)
        guard exported == 0 else { throw LabError.syscall("seccomp_export_bpf", errno: -exported) }
        let size = lseek(fd, 0, SEEK_END)
        let instruction = MemoryLayout<sock_filter>.size
        guard size > 0, Int(size) % instruction == 0, Int(size) / instruction <= 4096 else {
            throw LabError(.failed, "seccomp: the exported filter has \(size) bytes, not a BPF program")
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        guard pread(fd, &bytes, bytes.count, 0) == size else { throw LabError.syscall("read the exported seccomp filter") }
        return bytes
    }
}
