// The escape probes: attempts a container's root must not be able to make,
// each harmless by construction (it opens for writing and never writes,
// reads one block at most, mounts only in a namespace of its own or on a
// scratch directory it removes, and hands the kernel requests that fail
// after the permission check). Each returns 0 when the kernel let the call
// through, else the errno. In C because they are raw system calls with
// structures Swift does not import (or variadic syscall()).
#define _GNU_SOURCE
#include "lab_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static int result(long value) { return value < 0 ? errno : 0; }

int lab_probe_mknod_open(const char *path, int block, unsigned major, unsigned minor, int read_block) {
    unlink(path);
    if (mknod(path, (block ? S_IFBLK : S_IFCHR) | 0600, makedev(major, minor)) != 0) {
        return errno;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) {
        char buffer[512];
        if (read_block && read(fd, buffer, sizeof(buffer)) < 0) {
            err = errno;
        }
        close(fd);
    }
    unlink(path);
    return err;
}

int lab_probe_open(const char *path, int flags) {
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    int err = 0;
    if ((flags & O_ACCMODE) == O_RDONLY) {
        char byte;
        if (read(fd, &byte, 1) < 0) {
            err = errno;
        }
    }
    close(fd);
    return err;
}

int lab_probe_mount(const char *directory) {
    mkdir(directory, 0700);
    int err = mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k") == 0 ? 0 : errno;
    if (err == 0) {
        umount2(directory, MNT_DETACH);
    }
    rmdir(directory);
    return err;
}

int lab_probe_finit_module(void) {
    // An empty module: the loader refuses it after the permission check.
    int fd = (int)syscall(SYS_memfd_create, "isolab-probe", 1U);
    if (fd < 0) {
        return errno;
    }
    int err = result(syscall(SYS_finit_module, fd, "", 0));
    close(fd);
    return err;
}

int lab_probe_init_module(void) {
    static char nothing[16];
    return result(syscall(SYS_init_module, nothing, sizeof(nothing), ""));
}

int lab_probe_kexec_load(void) {
    // An architecture that is not this one: refused after the permission check.
    return result(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xFFFFUL << 16));
}

int lab_probe_open_by_handle_at(void) {
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        return errno;
    }
    struct {
        unsigned int bytes;
        int type;
        unsigned char handle[8];
    } handle = {8, 1, {0}};
    int fd = (int)syscall(SYS_open_by_handle_at, root, &handle, O_RDONLY);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) {
        close(fd);
    }
    close(root);
    return err;
}

int lab_probe_bpf(void) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    // A map of no type and no size: refused after the permission check.
    int fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return errno;
}

int lab_probe_perf_event_open(void) {
    // A software clock, disabled: it counts nothing.
    unsigned char attr[136];
    memset(attr, 0, sizeof(attr));
    uint32_t type = 1, size = sizeof(attr);
    uint64_t config = 0, flags = 1;
    memcpy(attr, &type, 4);
    memcpy(attr + 4, &size, 4);
    memcpy(attr + 8, &config, 8);
    memcpy(attr + 40, &flags, 8);
    int fd = (int)syscall(SYS_perf_event_open, attr, 0, -1, -1, 0UL);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return errno;
}

int lab_probe_keyctl(void) {
    // KEYCTL_GET_KEYRING_ID of the session keyring, without creating one.
    long id = syscall(SYS_keyctl, 0, -3, 0);
    return id < 0 && errno != ENOKEY ? errno : 0;
}

int lab_probe_userns_mount(void) {
    pid_t pid = fork();
    if (pid < 0) {
        return errno;
    }
    if (pid == 0) {
        int err = unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 ? 0 : errno;
        if (err == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
            err = errno;
        }
        if (err == 0 && mount("tmpfs", "/tmp", "tmpfs", 0, "size=16k") != 0) {
            err = errno;
        }
        _exit(err & 0xFF);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
}

int lab_probe_ptrace(int target) {
    // PTRACE_SEIZE does not stop the target; it is detached when this process exits.
    return result(ptrace(PTRACE_SEIZE, target, NULL, NULL));
}

int lab_probe_chroot_escape(const char *scratch, const char *marker) {
    pid_t pid = fork();
    if (pid < 0) {
        return errno;
    }
    if (pid == 0) {
        // The classic escape: chroot into a subdirectory without entering it,
        // walk up past the new root, and make wherever that is the root.
        mkdir(scratch, 0700);
        if (chroot(scratch) != 0) {
            _exit(errno & 0xFF);
        }
        for (int i = 0; i < 64; i++) {
            if (chdir("..") != 0) {
                break;
            }
        }
        if (chroot(".") != 0) {
            _exit(errno & 0xFF);
        }
        _exit(access(marker, F_OK) == 0 ? 0 : errno & 0xFF);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    rmdir(scratch);
    return WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
}

int lab_probe_tiocsti(int fd, int take_terminal) {
    if (take_terminal && (setsid() < 0 || ioctl(fd, TIOCSCTTY, 0) != 0)) {
        return errno;
    }
    char space = ' ';
    return result(ioctl(fd, TIOCSTI, &space));
}
