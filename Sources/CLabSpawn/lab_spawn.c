#define _GNU_SOURCE
#include "lab_spawn.h"
#include "lab_shared.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// Everything below runs in the child: system calls and stack memory only.

static void report(int fd, int step, int error) {
    struct lab_spawn_status status = {step, error};
    ssize_t n;
    do {
        n = write(fd, &status, sizeof(status));
    } while (n < 0 && errno == EINTR);
}

__attribute__((noreturn)) static void fail(int fd, int step) {
    report(fd, step, errno == 0 ? EINVAL : errno);
    _exit(127);
}

// Paths are built in stack buffers: no allocation after the clone.
static int join(char *out, size_t size, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 1 >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(out, a, la);
    memcpy(out + la, b, lb + 1);
    return 0;
}

static int bind_device(const char *root, const char *name) {
    char host[64], target[4096];
    if (join(host, sizeof(host), "/dev/", name) != 0 || join(target, sizeof(target), root, "/dev/") != 0) {
        return -1;
    }
    size_t used = strlen(target);
    if (used + strlen(name) + 1 >= sizeof(target)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(target + used, name, strlen(name) + 1);
    int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    return mount(host, target, NULL, MS_BIND, NULL);
}

static int dev_symlink(const char *root, const char *target, const char *name) {
    char path[4096];
    if (join(path, sizeof(path), root, "/dev/") != 0) {
        return -1;
    }
    size_t used = strlen(path);
    if (used + strlen(name) + 1 >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path + used, name, strlen(name) + 1);
    return symlink(target, path);
}

static int mount_at(const char *root, const char *sub, const char *source, const char *type,
                    unsigned long flags, const char *data) {
    char path[4096];
    if (join(path, sizeof(path), root, sub) != 0) {
        return -1;
    }
    return mount(source, path, type, flags, data);
}

static int make_dir(const char *root, const char *sub, mode_t mode) {
    char path[4096];
    if (join(path, sizeof(path), root, sub) != 0) {
        return -1;
    }
    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

static void exec_command(const struct lab_spawn_config *config) {
    const char *file = config->argv[0];
    if (strchr(file, '/') != NULL) {
        execve(file, (char *const *)config->argv, (char *const *)config->envp);
        return;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *const *env = config->envp; *env != NULL; env++) {
        if (strncmp(*env, "PATH=", 5) == 0) {
            path = *env + 5;
        }
    }
    int first_error = ENOENT;
    while (*path != '\0') {
        const char *end = strchr(path, ':');
        size_t length = end ? (size_t)(end - path) : strlen(path);
        char candidate[4096];
        if (length + 1 + strlen(file) + 1 < sizeof(candidate)) {
            memcpy(candidate, path, length);
            candidate[length] = '/';
            memcpy(candidate + length + 1, file, strlen(file) + 1);
            execve(candidate, (char *const *)config->argv, (char *const *)config->envp);
            if (errno != ENOENT && errno != ENOTDIR) {
                first_error = errno;
            }
        }
        if (end == NULL) {
            break;
        }
        path = end + 1;
    }
    errno = first_error;
}

// Marks every descriptor in [first, last] close-on-exec: close_range where
// the kernel has it (5.11), else every descriptor /proc/self/fd lists,
// read with getdents64 into a stack buffer (opendir would allocate), so that
// no descriptor escapes whatever RLIMIT_NOFILE says.
static int mark_cloexec(unsigned first, unsigned last) {
    if (first > last) {
        return 0;
    }
    if (syscall(SYS_close_range, first, last, CLOSE_RANGE_CLOEXEC) == 0) {
        return 0;
    }
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        return -1;
    }
    char buffer[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buffer, sizeof(buffer));
        if (n < 0) {
            close(dir);
            return -1;
        }
        if (n == 0) {
            break;
        }
        for (long offset = 0; offset < n;) {
            struct {
                unsigned long long ino;
                long long off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *entry = (void *)(buffer + offset);
            unsigned fd = 0;
            int digits = entry->name[0] != '\0';
            for (const char *c = entry->name; *c != '\0'; c++) {
                if (*c < '0' || *c > '9') {
                    digits = 0;
                    break;
                }
                fd = fd * 10 + (unsigned)(*c - '0');
            }
            if (digits && fd >= first && fd <= last && (int)fd != dir) {
                int flags = fcntl((int)fd, F_GETFD);
                if (flags >= 0) {
                    fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
                }
            }
            offset += entry->reclen;
        }
    }
    close(dir);
    return 0;
}

// runc's read-only paths: bind the path onto itself, then remount it
// read-only keeping the flags it has (a locked flag may not be dropped in a
// user namespace). A path the kernel does not have is skipped.
static int readonly_path(const char *path) {
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0) {
        return errno == ENOENT ? 0 : -1;
    }
    struct statvfs st;
    unsigned long kept = 0;
    if (statvfs(path, &st) == 0) {
        kept = st.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC);
    }
    return mount(path, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept, NULL);
}

// runc's masked paths: /dev/null over a file, an empty read-only tmpfs over
// a directory. A path the kernel does not have is skipped.
static int mask_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        return errno == ENOENT ? 0 : -1;
    }
    if (S_ISDIR(st.st_mode)) {
        return mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "nr_blocks=1,nr_inodes=1");
    }
    return mount("/dev/null", path, NULL, MS_BIND, NULL);
}

static const char *const readonly_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
static const char *const masked_paths[] = {
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
};

__attribute__((noreturn)) static void child(const struct lab_spawn_config *config, int sync_read, int status_write) {
    // 1. Signals: default handlers, nothing blocked (the parent blocked all around the clone).
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; signal++) {
        if (signal != SIGKILL && signal != SIGSTOP) {
            sigaction(signal, &action, NULL);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) {
        fail(status_write, LAB_STEP_SIGNALS);
    }
    // 2. Wait until the parent has put this process in its cgroups.
    char byte;
    ssize_t n;
    do {
        n = read(sync_read, &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
        if (n == 0) {
            errno = ECANCELED;
        }
        fail(status_write, LAB_STEP_SYNC_WAIT);
    }
    close(sync_read);

    if (config->user_namespace) {
        if (setresgid(0, 0, 0) != 0) {
            fail(status_write, LAB_STEP_IDS);
        }
        if (setgroups(0, NULL) != 0 && errno != EPERM) {
            fail(status_write, LAB_STEP_SETGROUPS);
        }
        if (setresuid(0, 0, 0) != 0) {
            fail(status_write, LAB_STEP_IDS);
        }
    }

    // 3. Its own cgroup namespace, rooted at the cgroup it was just put in.
    if (config->cgroup_namespace && unshare(CLONE_NEWCGROUP) != 0) {
        fail(status_write, LAB_STEP_CGROUP_NAMESPACE);
    }

    // 4. Mounts, none of which may propagate back to the host.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        fail(status_write, LAB_STEP_MOUNT_PRIVATE);
    }
    const char *root = config->mount_point;
    if (config->overlay_options != NULL) {
        if (mount("overlay", root, "overlay", 0, config->overlay_options) != 0) {
            fail(status_write, LAB_STEP_MOUNT_OVERLAY);
        }
        // An image's layers need not hold the mount points: they are made
        // in the instance's own upper layer.
        static const char *const points[] = {"/proc", "/sys", "/dev", "/tmp", "/run"};
        for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
            if (make_dir(root, points[i], 0755) != 0) {
                fail(status_write, LAB_STEP_MOUNT_OVERLAY);
            }
        }
        for (int i = 0; i < config->bind_count; i++) {
            if (make_dir(root, config->binds[i].target, 0755) != 0) {
                fail(status_write, LAB_STEP_MOUNT_VOLUME);
            }
        }
    } else if (mount(config->rootfs, root, NULL, MS_BIND | MS_REC, NULL) != 0) {
        fail(status_write, LAB_STEP_BIND_ROOTFS);
    }
    if (mount_at(root, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        fail(status_write, LAB_STEP_MOUNT_PROC);
    }
    if (mount_at(root, "/sys", "sysfs", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) != 0) {
        fail(status_write, LAB_STEP_MOUNT_SYS);
    }
    // nodev: a node made in /dev is no device (the few devices the container
    // has are bind mounts of the host's, each a mount of its own).
    if (mount_at(root, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k") != 0) {
        fail(status_write, LAB_STEP_MOUNT_DEV);
    }
    static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
    for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
        if (bind_device(root, devices[i]) != 0) {
            fail(status_write, LAB_STEP_MOUNT_DEVICES);
        }
    }
    if (make_dir(root, "/dev/pts", 0755) != 0 ||
        mount_at(root, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=0620") != 0) {
        fail(status_write, LAB_STEP_MOUNT_DEVPTS);
    }
    if (make_dir(root, "/dev/shm", 01777) != 0 ||
        mount_at(root, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") != 0) {
        fail(status_write, LAB_STEP_MOUNT_SHM);
    }
    // POSIX message queues of the container's IPC namespace, as runc mounts them.
    if (make_dir(root, "/dev/mqueue", 0755) != 0 ||
        mount_at(root, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        fail(status_write, LAB_STEP_MOUNT_MQUEUE);
    }
    if (dev_symlink(root, "pts/ptmx", "ptmx") != 0 || dev_symlink(root, "/proc/self/fd", "fd") != 0 ||
        dev_symlink(root, "/proc/self/fd/0", "stdin") != 0 || dev_symlink(root, "/proc/self/fd/1", "stdout") != 0 ||
        dev_symlink(root, "/proc/self/fd/2", "stderr") != 0) {
        fail(status_write, LAB_STEP_MOUNT_DEVICES);
    }
    if (mount_at(root, "/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
        fail(status_write, LAB_STEP_MOUNT_TMP);
    }
    if (mount_at(root, "/run", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") != 0) {
        fail(status_write, LAB_STEP_MOUNT_RUN);
    }
    // Volumes: host directories bound over directories of the image, before
    // the image is made read-only (they keep their own mount and flags).
    for (int i = 0; i < config->bind_count; i++) {
        char target[4096];
        if (join(target, sizeof(target), root, config->binds[i].target) != 0 ||
            mount(config->binds[i].source, target, NULL, MS_BIND | MS_REC, NULL) != 0 ||
            mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (config->binds[i].readonly ? MS_RDONLY : 0), NULL) != 0) {
            fail(status_write, LAB_STEP_MOUNT_VOLUME);
        }
    }
    // A system container's own mounts (its cgroup tree, console, notify socket).
    for (int i = 0; i < config->mount_count; i++) {
        const struct lab_spawn_mount *m = &config->mounts[i];
        int made = 0;
        switch (m->create) {
        case LAB_CREATE_SYMLINK:
            if (symlink(m->source, m->target) != 0 && errno != EEXIST) {
                fail(status_write, LAB_STEP_MOUNT_EXTRA);
            }
            continue;
        case LAB_CREATE_DIRECTORY:
            made = mkdir(m->target, 0755) == 0 || errno == EEXIST;
            break;
        case LAB_CREATE_FILE: {
            int fd = open(m->target, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            made = fd >= 0;
            if (fd >= 0) {
                close(fd);
            }
            break;
        }
        default:
            made = 1;
        }
        if (!made || mount(m->source, m->target, m->fstype, m->flags, m->data) != 0) {
            fail(status_write, LAB_STEP_MOUNT_EXTRA);
        }
    }
    // The image itself read-only (an overlay root stays writable: its upper
    // layer is the instance's own); the mounts on it keep their own flags. The
    // source mount's flags are kept too: in a user namespace they are locked,
    // and a remount that drops one (relatime, say) is refused.
    struct statvfs source;
    unsigned long kept = 0;
    if (statvfs(root, &source) == 0) {
        kept = source.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | ST_NODIRATIME | ST_RELATIME);
    }
    if (config->overlay_options == NULL &&
        mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | kept, NULL) != 0) {
        fail(status_write, LAB_STEP_REMOUNT_READONLY);
    }

    // 5. pivot_root the runc way: no temporary directory for the old root.
    int new_root = open(root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (new_root < 0 || fchdir(new_root) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 ||
        mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) != 0 || umount2(".", MNT_DETACH) != 0 || chdir("/") != 0) {
        fail(status_write, LAB_STEP_PIVOT_ROOT);
    }
    close(new_root);
    if (config->mask_paths) {
        for (size_t i = 0; i < sizeof(readonly_paths) / sizeof(readonly_paths[0]); i++) {
            if (readonly_path(readonly_paths[i]) != 0) {
                fail(status_write, LAB_STEP_READONLY_PATHS);
            }
        }
        for (size_t i = 0; i < sizeof(masked_paths) / sizeof(masked_paths[0]); i++) {
            if (mask_path(masked_paths[i]) != 0) {
                fail(status_write, LAB_STEP_MASK_PATHS);
            }
        }
    }
    report(status_write, LAB_STEP_ROOTFS_READY, 0);

    // CPUs, before anything runs that the lab measures.
    if (config->cpu_affinity != 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int cpu = 0; cpu < 64; cpu++) {
            if (config->cpu_affinity & (1ULL << cpu)) {
                CPU_SET(cpu, &set);
            }
        }
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            fail(status_write, LAB_STEP_AFFINITY);
        }
    }

    // 6. Identity and network.
    if (config->hostname != NULL && sethostname(config->hostname, strlen(config->hostname)) != 0) {
        fail(status_write, LAB_STEP_HOSTNAME);
    }
    // Only in a network namespace of its own: the host's lo is not the container's.
    int loopback = (config->clone_flags & CLONE_NEWNET) ? lab_loopback_up() : 0;
    if (loopback != 0) {
        errno = loopback;
        fail(status_write, LAB_STEP_LOOPBACK);
    }
    for (int i = 0; i < config->rlimit_count; i++) {
        struct rlimit limit = {config->rlimits[i].soft, config->rlimits[i].hard};
        if (setrlimit(config->rlimits[i].resource, &limit) != 0) {
            fail(status_write, LAB_STEP_RLIMITS);
        }
    }

    // 7. Standard descriptors and the control descriptor at their numbers.
    int null_fd = -1;
    int sources[3] = {config->stdin_fd, config->stdout_fd, config->stderr_fd};
    for (int target = 0; target < 3; target++) {
        int source = sources[target];
        if (source < 0) {
            if (null_fd < 0 && (null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
                fail(status_write, LAB_STEP_STDIO);
            }
            source = null_fd;
        }
        if (source == target) {
            int flags = fcntl(source, F_GETFD);
            if (flags < 0 || fcntl(source, F_SETFD, flags & ~FD_CLOEXEC) != 0) {
                fail(status_write, LAB_STEP_STDIO);
            }
        } else if (dup2(source, target) < 0) {
            fail(status_write, LAB_STEP_STDIO);
        }
    }
    if (config->control_fd >= 0) {
        if (config->control_fd == config->control_target) {
            int flags = fcntl(config->control_fd, F_GETFD);
            if (flags < 0 || fcntl(config->control_fd, F_SETFD, flags & ~FD_CLOEXEC) != 0) {
                fail(status_write, LAB_STEP_STDIO);
            }
        } else if (dup2(config->control_fd, config->control_target) < 0) {
            fail(status_write, LAB_STEP_STDIO);
        }
    }
    // A session of its own, always: the host's terminal, if a descriptor of
    // it came this far, is then no controlling terminal of the container's
    // and TIOCSTI cannot push input into it. With a pty of its own, that
    // pty becomes its controlling terminal.
    if (setsid() < 0) {
        fail(status_write, LAB_STEP_SETSID);
    }
    if (config->controlling_terminal && ioctl(0, TIOCSCTTY, 0) != 0) {
        fail(status_write, LAB_STEP_CONTROLLING_TERMINAL);
    }
    if (config->workdir != NULL && chdir(config->workdir) != 0) {
        fail(status_write, LAB_STEP_WORKDIR);
    }

    // 8. Capabilities: bounding set first (needs CAP_SETPCAP, still held),
    // then effective/permitted/inheritable, ambient cleared; no new privileges.
    for (int cap = 0; cap <= config->last_capability; cap++) {
        if (!(config->capabilities & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            fail(status_write, LAB_STEP_CAPABILITIES_BOUNDING);
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
        fail(status_write, LAB_STEP_CAPABILITIES);
    }
    if (config->set_user) {
        if (setgroups(0, NULL) != 0 || setresgid(config->gid, config->gid, config->gid) != 0 ||
            setresuid(config->uid, config->uid, config->uid) != 0) {
            fail(status_write, LAB_STEP_USER);
        }
    }
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    for (int i = 0; i < 2; i++) {
        uint32_t bits = (uint32_t)(config->capabilities >> (32 * i));
        data[i].effective = bits;
        data[i].permitted = bits;
        data[i].inheritable = bits;
    }
    // A uid other than 0 lost its capabilities at setresuid: none to set.
    if ((!config->set_user || config->uid == 0) && syscall(SYS_capset, &header, data) != 0) {
        fail(status_write, LAB_STEP_CAPABILITIES);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        fail(status_write, LAB_STEP_NO_NEW_PRIVS);
    }

    // 9. Nothing but 0-2 and the control descriptor crosses the exec.
    if (config->control_fd >= 0 && config->control_target > 3) {
        if (mark_cloexec(3, (unsigned)config->control_target - 1) != 0) {
            fail(status_write, LAB_STEP_CLOSE_FDS);
        }
    }
    if (mark_cloexec(config->control_fd >= 0 ? (unsigned)config->control_target + 1 : 3, ~0U) != 0) {
        fail(status_write, LAB_STEP_CLOSE_FDS);
    }
    // 10. seccomp last, after no_new_privs: the filter need only allow exec and what follows.
    if (config->seccomp_filter != NULL) {
        struct sock_fprog program = {config->seccomp_length, (struct sock_filter *)config->seccomp_filter};
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
            fail(status_write, LAB_STEP_SECCOMP);
        }
    }
    exec_command(config);
    fail(status_write, LAB_STEP_EXEC);
}

pid_t lab_spawn_container(const struct lab_spawn_config *config, int sync_read, int sync_write, int status_read,
                          int status_write) {
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    // The raw syscall, like fork: the child gets a copy of the address space
    // (the config stays readable) and glibc's atfork handlers do not run.
    pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(config->clone_flags | SIGCHLD), NULL, NULL, NULL, 0UL);
    if (pid == 0) {
        // The parent's ends: held here, they would keep the child waiting
        // forever on a parent that died before writing the sync byte.
        close(sync_write);
        close(status_read);
        child(config, sync_read, status_write);
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    errno = saved;
    return pid;
}
