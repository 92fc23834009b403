// What the teaching demos do on the host's side that Swift cannot: POSIX
// message queues (<mqueue.h> is not in Swift's Glibc module), and a mount
// made inside a container's mount namespace on its behalf (its process has
// neither CAP_SYS_ADMIN nor mount(2): `nsenter -t PID -m mount ...`).
#define _GNU_SOURCE
#include "lab_host.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

int lab_mq_create(const char *name) {
    struct mq_attr attr = {0};
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = 64;
    mqd_t queue = mq_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &attr);
    if (queue == (mqd_t)-1) {
        return errno;
    }
    mq_close(queue);
    return 0;
}

int lab_mq_exists(const char *name) {
    mqd_t queue = mq_open(name, O_RDONLY | O_CLOEXEC);
    if (queue == (mqd_t)-1) {
        return errno == ENOENT ? 0 : -errno;
    }
    mq_close(queue);
    return 1;
}

int lab_mq_unlink(const char *name) {
    return mq_unlink(name) == 0 ? 0 : errno;
}

int lab_mount_tmpfs_in(int pid, const char *target) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
        return errno;
    }
    // A child does it: setns(CLONE_NEWNS) is refused to a multi-threaded process.
    pid_t child = fork();
    if (child < 0) {
        int err = errno;
        close(ns);
        return err;
    }
    if (child == 0) {
        if (setns(ns, CLONE_NEWNS) != 0) {
            _exit(errno & 0xff);
        }
        _exit(mount("isolab-demo", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k") == 0 ? 0 : (errno & 0xff));
    }
    close(ns);
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            return errno;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
}
