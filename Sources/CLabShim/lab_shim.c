#define _GNU_SOURCE
#include "lab_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

const char *lab_errno_name(int err) {
    return strerrorname_np(err);
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
