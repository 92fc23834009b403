#define _GNU_SOURCE
#include "lab_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <unistd.h>

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
