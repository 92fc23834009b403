// The container child's path from clone to exec, in C.
//
// Why C: between clone and exec the child of the multi-threaded Swift
// process may only make async-signal-safe calls (another thread may have held
// a lock, such as malloc's, at the instant of the clone). Everything here is
// a system call or touches only memory prepared by the parent.
#ifndef LAB_SPAWN_H
#define LAB_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Steps of the child, reported through the status pipe.
enum lab_spawn_step {
    LAB_STEP_SIGNALS = 1,
    LAB_STEP_SYNC_WAIT,
    LAB_STEP_SETGROUPS,
    LAB_STEP_IDS,
    LAB_STEP_CGROUP_NAMESPACE,
    LAB_STEP_MOUNT_PRIVATE,
    LAB_STEP_BIND_ROOTFS,
    LAB_STEP_MOUNT_PROC,
    LAB_STEP_MOUNT_SYS,
    LAB_STEP_MOUNT_DEV,
    LAB_STEP_MOUNT_DEVICES,
    LAB_STEP_MOUNT_DEVPTS,
    LAB_STEP_MOUNT_SHM,
    LAB_STEP_MOUNT_MQUEUE,
    LAB_STEP_MOUNT_TMP,
    LAB_STEP_MOUNT_RUN,
    LAB_STEP_MOUNT_VOLUME,
    LAB_STEP_AFFINITY,
    LAB_STEP_REMOUNT_READONLY,
    LAB_STEP_PIVOT_ROOT,
    LAB_STEP_HOSTNAME,
    LAB_STEP_LOOPBACK,
    LAB_STEP_RLIMITS,
    LAB_STEP_STDIO,
    LAB_STEP_WORKDIR,
    LAB_STEP_CAPABILITIES_BOUNDING,
    LAB_STEP_CAPABILITIES,
    LAB_STEP_NO_NEW_PRIVS,
    LAB_STEP_CLOSE_FDS,
    LAB_STEP_EXEC,
    LAB_STEP_MASK_PATHS,
    LAB_STEP_READONLY_PATHS,
    LAB_STEP_SETSID,
    LAB_STEP_CONTROLLING_TERMINAL,
    LAB_STEP_SECCOMP,
    LAB_STEP_MOUNT_OVERLAY,
    LAB_STEP_MOUNT_EXTRA,
    LAB_STEP_USER,
    /// Progress, not an error: the new root is in place (after pivot_root).
    LAB_STEP_ROOTFS_READY = 100,
};

/// One record on the status pipe: progress (errno 0) or the failing step.
struct lab_spawn_status {
    int32_t step;
    int32_t error;
};

/// A host directory bind-mounted into the container (a volume).
struct lab_spawn_bind {
    const char *source;
    /// Absolute path inside the container; the directory must exist in the image.
    const char *target;
    int readonly;
};

/// What a mount entry makes at its target before mounting.
enum lab_spawn_create {
    LAB_CREATE_NOTHING = 0,
    LAB_CREATE_DIRECTORY = 1,
    /// An empty file (the target of a bind mount of a file, such as /dev/console).
    LAB_CREATE_FILE = 2,
    /// No mount: a symbolic link at `target` pointing at `source`.
    LAB_CREATE_SYMLINK = 3,
};

/// A mount made in the new root after the standard ones (a system
/// container's cgroup tree, console and notify socket), in order.
struct lab_spawn_mount {
    const char *source;
    /// Absolute host path under the mount point, prepared by the parent.
    const char *target;
    const char *fstype;
    unsigned long flags;
    const char *data;
    int create;
};

struct lab_spawn_rlimit {
    int resource;
    uint64_t soft;
    uint64_t hard;
};

/// Everything the child needs, prepared by the parent before the clone.
struct lab_spawn_config {
    /// CLONE_NEW* flags for the clone (not CLONE_NEWCGROUP: the child
    /// unshares that after the parent has put it in its cgroups).
    int clone_flags;
    /// Unshare a cgroup namespace after the sync byte arrives.
    int cgroup_namespace;
    /// The image's rootfs, bind-mounted read-only as the new root.
    const char *rootfs;
    /// An empty host directory to mount the new root on (the container's run directory).
    const char *mount_point;
    const char *hostname;
    /// Absolute path, or a name searched in PATH from envp.
    const char *const *argv;
    const char *const *envp;
    const char *workdir;
    /// Descriptors made 0, 1, 2 in the child (-1: /dev/null).
    int stdin_fd, stdout_fd, stderr_fd;
    /// A descriptor made `control_target` in the child (-1: none).
    int control_fd, control_target;
    /// Capabilities kept (bit n: capability n), in the bounding, effective,
    /// permitted and inheritable sets; all others dropped, ambient cleared.
    uint64_t capabilities;
    /// The highest capability number the kernel knows.
    int last_capability;
    const struct lab_spawn_rlimit *rlimits;
    int rlimit_count;
    /// With a user namespace: become uid/gid 0 inside after the maps are written.
    int user_namespace;
    const struct lab_spawn_bind *binds;
    int bind_count;
    /// CPUs the container may run on (bit n: CPU n); 0: those of the lab.
    uint64_t cpu_affinity;
    /// Make fd 0 (a pty slave the lab made for it) the controlling terminal
    /// of the new session the child always starts.
    int controlling_terminal;
    /// A seccomp filter (an array of `struct sock_filter`) loaded just before
    /// exec, after no_new_privs; NULL: none.
    const void *seccomp_filter;
    unsigned short seccomp_length;
    /// runc's masked and read-only paths of /proc and /sys (0: leave them).
    int mask_paths;
    /// Non-NULL: the new root is an overlay with these options
    /// (lowerdir=ROOTFS,upperdir=...,workdir=...), writable, instead of a
    /// read-only bind of `rootfs`: a system container writes to its own
    /// upper layer, never to the shared image.
    const char *overlay_options;
    /// Run the command as uid/gid (an OCI image's `User`), no supplementary
    /// groups: set after the bounding set is dropped; a uid other than 0
    /// then holds no capability, as in runc.
    int set_user;
    unsigned int uid, gid;
    const struct lab_spawn_mount *mounts;
    int mount_count;
};

/// Clones the child into its namespaces and returns its pid, or -1 with
/// errno. `sync_read`: the child waits for one byte on it (the parent writes
/// after placing the child in its cgroups and writing any id maps).
/// `status_write`: close-on-exec; the child writes progress and, on failure,
/// the failing step with its errno, then exits 127. EOF on the read end
/// means the exec succeeded. The caller closes both of these in the parent.
/// `sync_write` and `status_read` are the parent's ends: the child closes
/// them first, so that it sees EOF, and exits, if the parent dies.
pid_t lab_spawn_container(const struct lab_spawn_config *config, int sync_read, int sync_write, int status_read,
                          int status_write);

#ifdef __cplusplus
}
#endif

#endif
