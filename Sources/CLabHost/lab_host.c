#define _GNU_SOURCE
#include "lab_host.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <net/if.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>



int lab_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

int lab_probe_namespaces(int flags) {
    // The raw clone syscall with no new stack behaves like fork but does not
    // run glibc's atfork handlers, which are not safe in a multi-threaded
    // parent. The child only calls _exit.
    pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), NULL, NULL, NULL, 0UL);
    if (pid < 0) {
        return errno;
    }
    if (pid == 0) {
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return errno;
        }
    }
    return (WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : ECHILD;
}

int lab_clone_newpid(void) { return CLONE_NEWPID; }
int lab_clone_newns(void) { return CLONE_NEWNS; }
int lab_clone_newuts(void) { return CLONE_NEWUTS; }
int lab_clone_newipc(void) { return CLONE_NEWIPC; }
int lab_clone_newnet(void) { return CLONE_NEWNET; }
int lab_clone_newcgroup(void) { return CLONE_NEWCGROUP; }
int lab_clone_newuser(void) { return CLONE_NEWUSER; }

int lab_kvm_check(int *api_version, int *step) {
    *api_version = -1;
    *step = 1;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    *step = 2;
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version < 0) {
        int err = errno;
        close(fd);
        return err;
    }
    *api_version = version;
    *step = 3;
    int vm = ioctl(fd, KVM_CREATE_VM, 0);
    if (vm < 0) {
        int err = errno;
        close(fd);
        return err;
    }
    close(vm);
    close(fd);
    return 0;
}

long lab_statfs_type(const char *path) {
    struct statfs info;
    if (statfs(path, &info) != 0) {
        return -errno;
    }
    return (long)info.f_type;
}



int lab_pidfd_open(int pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}


int lab_thread_affinity(uint64_t *mask) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return errno;
    }
    *mask = 0;
    for (int cpu = 0; cpu < 64; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            *mask |= 1ULL << cpu;
        }
    }
    return 0;
}

int lab_set_thread_affinity(uint64_t mask) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu = 0; cpu < 64; cpu++) {
        if (mask & (1ULL << cpu)) {
            CPU_SET(cpu, &set);
        }
    }
    return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : errno;
}

int lab_open_pty(int *master, int *slave) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) {
        return errno;
    }
    if (grantpt(m) != 0 || unlockpt(m) != 0) {
        int err = errno;
        close(m);
        return err;
    }
    // The peer by the master itself (Linux 4.13): no path to race on.
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        char name[64];
        if (ptsname_r(m, name, sizeof(name)) != 0 || (s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
            int err = errno;
            close(m);
            return err;
        }
    }
    *master = m;
    *slave = s;
    return 0;
}

int lab_peer_credentials(int fd, int *pid, unsigned int *uid) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
        return errno;
    }
    *pid = credentials.pid;
    *uid = credentials.uid;
    return 0;
}

int lab_enable_receive_timestamps(int fd) {
    int on = 1;
    return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) == 0 ? 0 : errno;
}

long lab_recv_stamped(int fd, void *buffer, size_t size, uint64_t *monotonic_ns) {
    union {
        char bytes[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } control;
    struct iovec vector = {.iov_base = buffer, .iov_len = size};
    struct msghdr message = {0};
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof(control.bytes);
    ssize_t n = recvmsg(fd, &message, MSG_DONTWAIT);
    if (n < 0) return -1;
    struct timespec monotonic, realtime;
    clock_gettime(CLOCK_MONOTONIC, &monotonic);
    clock_gettime(CLOCK_REALTIME, &realtime);
    uint64_t now = (uint64_t)monotonic.tv_sec * 1000000000ull + (uint64_t)monotonic.tv_nsec;
    *monotonic_ns = now;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c != NULL; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
        struct timespec arrived;
        memcpy(&arrived, CMSG_DATA(c), sizeof(arrived));
        int64_t age = ((int64_t)realtime.tv_sec - (int64_t)arrived.tv_sec) * 1000000000ll + ((int64_t)realtime.tv_nsec - (int64_t)arrived.tv_nsec);
        // A clock step between the two stamps gives a nonsense age: keep "now".
        if (age > 0 && (uint64_t)age < now && age < 60ll * 1000000000ll) *monotonic_ns = now - (uint64_t)age;
    }
    return n;
}

int lab_get_window_size(int fd, struct winsize *size) {
    return ioctl(fd, TIOCGWINSZ, size) == 0 ? 0 : errno;
}

int lab_set_window_size(int fd, const struct winsize *size) {
    return ioctl(fd, TIOCSWINSZ, size) == 0 ? 0 : errno;
}

#include <sys/xattr.h>

long lab_getxattr(const char *path, const char *name, void *value, size_t size) {
    return (long)getxattr(path, name, value, size);
}

int lab_setxattr(const char *path, const char *name, const void *value, size_t size) {
    return setxattr(path, name, value, size, 0);
}
