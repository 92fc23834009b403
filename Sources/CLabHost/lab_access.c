// Whether another user can reach files, asked as that user: a forked child
// takes its uid, gid and groups and tries each path. In C because the child
// of a multi-threaded process may only make async-signal-safe calls; it uses
// raw system calls (glibc's setuid would signal every thread of the parent,
// which the child does not have), writes its answers to a pipe and exits.
#define _GNU_SOURCE
#include "lab_host.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int lab_access_as(unsigned uid, unsigned gid, const unsigned *groups, int group_count, const char *const *paths,
                  const int *modes, int count, struct lab_access_answer *answers) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return errno;
    pid_t child = fork();
    if (child < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return err;
    }
    if (child == 0) {
        close(fds[0]);
        int failed = 0;
        if (syscall(SYS_setgroups, group_count, groups) != 0 || syscall(SYS_setresgid, gid, gid, gid) != 0
            || syscall(SYS_setresuid, uid, uid, uid) != 0) failed = errno ? errno : EPERM;
        for (int i = 0; i < count; i++) {
            struct lab_access_answer answer = {0, -1};
            if (failed) {
                answer.error = failed;
            } else if (syscall(SYS_faccessat, AT_FDCWD, paths[i], modes[i]) != 0) {
                answer.error = errno;
                // The first ancestor this user cannot search: where the way is blocked.
                char prefix[4096];
                size_t length = strlen(paths[i]);
                if (length < sizeof prefix) {
                    for (size_t at = 1; at < length; at++) {
                        if (paths[i][at] != '/') continue;
                        memcpy(prefix, paths[i], at);
                        prefix[at] = 0;
                        if (syscall(SYS_faccessat, AT_FDCWD, prefix, X_OK) != 0) {
                            answer.blocked_at = (int)at;
                            break;
                        }
                    }
                }
            }
            if (write(fds[1], &answer, sizeof answer) != (ssize_t)sizeof answer) _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    size_t want = sizeof(struct lab_access_answer) * (size_t)count, got = 0;
    int err = 0;
    while (got < want) {
        ssize_t n = read(fds[0], (char *)answers + got, want - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            err = n < 0 ? errno : EPIPE;
            break;
        }
        got += (size_t)n;
    }
    close(fds[0]);
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    return err;
}
