#define _GNU_SOURCE
#include "lab_shared.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

const char *lab_errno_name(int err) {
    return strerrorname_np(err);
}

void lab_errno_describe(int err, char *buffer, size_t size) {
    const char *name = strerrorname_np(err);
    char text[256];
    // The GNU strerror_r returns a pointer that may or may not be `text`.
    const char *message = strerror_r(err, text, sizeof(text));
    char lowered[256];
    size_t i = 0;
    for (; message[i] != '\0' && i + 1 < sizeof(lowered); i++) {
        lowered[i] = message[i];
    }
    lowered[i] = '\0';
    if (lowered[0] >= 'A' && lowered[0] <= 'Z') {
        lowered[0] = (char)(lowered[0] - 'A' + 'a');
    }
    if (name != NULL) {
        snprintf(buffer, size, "%s (%s)", name, lowered);
    } else {
        snprintf(buffer, size, "errno %d (%s)", err, lowered);
    }
}

int lab_loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &request) < 0) {
        int err = errno;
        close(fd);
        return err;
    }
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &request) < 0) {
        int err = errno;
        close(fd);
        return err;
    }
    close(fd);
    return 0;
}
