#define _GNU_SOURCE
#include "lab_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <grp.h>
#include <sys/wait.h>

int lab_power_off(void) {
    sync();
    if (reboot(RB_POWER_OFF) < 0) {
        return errno;
    }
    return 0;
}

int lab_load_module(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    long result = syscall(SYS_finit_module, fd, "", 0);
    int saved = errno;
    close(fd);
    return result == 0 ? 0 : saved;
}

int lab_spawn_program(char *const argv[], char *const envp[], const char *workdir, int set_user, unsigned uid, unsigned gid,
                      int stdout_fd, int stderr_fd) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        return -errno;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(report[0]);
        close(report[1]);
        return -err;
    }
    if (pid == 0) {
        close(report[0]);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int err = 0;
        if (null < 0 || dup2(null, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) {
            err = errno;
        } else if (workdir != NULL && chdir(workdir) != 0) {
            err = errno;
        } else if (set_user && (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)) {
            err = errno;
        } else {
            extern char **environ;
            environ = (char **)envp;
            execvp(argv[0], argv);
            err = errno;
        }
        (void)!write(report[1], &err, sizeof(err));
        _exit(127);
    }
    close(report[1]);
    int err = 0;
    ssize_t n;
    do {
        n = read(report[0], &err, sizeof(err));
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof(err)) {
        waitpid(pid, NULL, 0);
        return -err;
    }
    return pid;
}
