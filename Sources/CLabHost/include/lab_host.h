// The host's C seam: what the lab's host side (LabCore, LabContainer, LabVirt)
// cannot do safely or at all in Swift. The guest agent has its own seam
// (CAgentShim), and what both need lives in CLabShared, so neither side links
// the other's C. Every symbol is prefixed lab_; each says why it is in C.
#ifndef LAB_HOST_H
#define LAB_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>
// getxattr(2): an overlay layer's opaque directories (trusted.overlay.opaque).
#include <sys/xattr.h>

#ifdef __cplusplus
extern "C" {
#endif



/// pipe2(2). In C because it is a GNU extension that Glibc does not import;
/// the lab needs O_CLOEXEC set atomically so that no concurrent spawn
/// inherits the descriptors.
int lab_pipe2(int fds[2], int flags);

/// Creates a short-lived child directly inside new namespaces (`flags` is a
/// set of CLONE_NEW* bits), waits for it and returns 0, or the errno of the
/// clone. In C because the child of a multi-threaded process may only make
/// async-signal-safe calls: it runs no Swift, it only exits.
int lab_probe_namespaces(int flags);

/// The CLONE_NEW* constants, which Glibc's Swift overlay does not export.
int lab_clone_newpid(void);
int lab_clone_newns(void);
int lab_clone_newuts(void);
int lab_clone_newipc(void);
int lab_clone_newnet(void);
int lab_clone_newcgroup(void);
int lab_clone_newuser(void);

/// Opens /dev/kvm, reads KVM_GET_API_VERSION into *api_version and tries
/// KVM_CREATE_VM. Returns 0 when a VM could be created, else the errno of
/// the step that failed, and sets *step to 1 (open), 2 (api version) or
/// 3 (create VM). In C because the ioctl numbers are macros Swift cannot import.
int lab_kvm_check(int *api_version, int *step);

/// The file-system magic (`f_type`) of the file system holding `path`, or
/// -errno. In C because Glibc's Swift module does not export statfs.
long lab_statfs_type(const char *path);



/// The calling thread's CPU affinity as a mask (bit n: CPU n, the first
/// 64 CPUs), or set it to one: 0 on success, else the errno. In C because
/// sched_setaffinity and the CPU_SET macros need _GNU_SOURCE, which Swift's
/// Glibc does not import.
int lab_thread_affinity(uint64_t *mask);
int lab_set_thread_affinity(uint64_t mask);

/// A veth pair with one end (`name_a`, `address_a`/`prefix`) in the network
/// namespace of `pid_a` and the other in that of `pid_b`, both up: 0 or the
/// errno. rtnetlink for the pair, ioctls for the addresses, each set from
/// inside its namespace by a setns of the calling thread, which is returned
/// to its own namespace: call it from a thread of its own. In C because the
/// netlink and ifreq structures are macros and unions.
int lab_veth_pair(int pid_a, const char *name_a, const char *address_a, int pid_b, const char *name_b, const char *address_b,
                  int prefix);

/// One device rule: type 'c' or 'b', major and minor (-1: any), access
/// letters of "rwm".
struct lab_device_rule {
    char type;
    int major;
    int minor;
    const char *access;
};

/// runc's default devices (null, zero, full, random, urandom, tty, ptmx,
/// pts/*, and mknod of any node) plus the console.
const struct lab_device_rule *lab_default_device_rules(int *count);

/// Loads a BPF_PROG_TYPE_CGROUP_DEVICE program that allows `rules` and
/// refuses every other device, and attaches it (BPF_F_ALLOW_MULTI) to the
/// cgroup2 directory `cgroup_fd`: 0, or the errno (the verifier's log in
/// `log` when it refused the program). In C because union bpf_attr and the
/// instruction encoding are macros and bitfields.
int lab_attach_device_program(int cgroup_fd, const struct lab_device_rule *rules, int count, char *log, size_t log_size);


/// A new pseudo-terminal pair, both ends close-on-exec: 0 or the errno. In
/// C because TIOCGPTPEER and ptsname_r need _GNU_SOURCE.
int lab_open_pty(int *master, int *slave);

/// The process and user at the other end of a connected Unix socket
/// (SO_PEERCRED): 0 or the errno. In C because struct ucred needs _GNU_SOURCE.
int lab_peer_credentials(int fd, int *pid, unsigned int *uid);

/// Asks the kernel to stamp each datagram when it arrives (SO_TIMESTAMPNS):
/// 0 or the errno.
int lab_enable_receive_timestamps(int fd);

/// recvmsg(2) of one datagram (MSG_DONTWAIT): its size, or -1 and errno;
/// `monotonic_ns` is when the kernel received it, on CLOCK_MONOTONIC (its
/// CLOCK_REALTIME stamp taken back by the datagram's age), or now when it
/// carries no stamp. In C because the control messages are macros. A
/// reader thread that runs late (a loaded host) then still marks the
/// instant the datagram came, not the instant it was read.
long lab_recv_stamped(int fd, void *buffer, size_t size, uint64_t *monotonic_ns);

/// getxattr(2) / setxattr(2) of a path: the size read, or -1 and errno
/// (glibc's <sys/xattr.h> is not in Swift's Glibc module).
long lab_getxattr(const char *path, const char *name, void *value, size_t size);
int lab_setxattr(const char *path, const char *name, const void *value, size_t size);

/// POSIX message queues, for the IPC demo: create (0 or the errno), whether
/// one exists (1, 0, or -errno), unlink (0 or the errno).
int lab_mq_create(const char *name);
int lab_mq_exists(const char *name);
int lab_mq_unlink(const char *name);

/// Mounts a small tmpfs at `target` inside the mount namespace of `pid`
/// (from a forked child that setns's into it): 0 or the errno.
int lab_mount_tmpfs_in(int pid, const char *target);

/// TIOCGWINSZ / TIOCSWINSZ: 0 or the errno (ioctl is variadic, which Swift
/// cannot call).
int lab_get_window_size(int fd, struct winsize *size);
int lab_set_window_size(int fd, const struct winsize *size);


/// pidfd_open(2): a descriptor that polls readable when the process exits,
/// and names that process only (a pid may be reused; a pidfd is not).
/// Close-on-exec. -1 with errno on failure (ENOSYS before Linux 5.3).
/// In C because glibc 2.36 declares no wrapper for it.
int lab_pidfd_open(int pid);

/// One answer of `lab_access_as`: 0 or the errno of the access, and the
/// length of the path's first ancestor the user cannot search (-1: none).
struct lab_access_answer {
    int error;
    int blocked_at;
};

/// Tries `access(paths[i], modes[i])` as uid/gid with `groups`, in a forked
/// child that takes them, and fills `answers`. 0, or the errno of the fork or
/// pipe. In C because the child of a multi-threaded process may only make
/// async-signal-safe calls (see lab_access.c).
int lab_access_as(unsigned uid, unsigned gid, const unsigned *groups, int group_count, const char *const *paths,
                  const int *modes, int count, struct lab_access_answer *answers);

#ifdef __cplusplus
}
#endif

#endif
