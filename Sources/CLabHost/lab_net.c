// A veth pair between two network namespaces, with an IPv4 address on each
// end: the lab's own small rtnetlink client, so that two containers can be
// joined without iproute2.
#define _GNU_SOURCE
#include "lab_host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

struct message {
    struct nlmsghdr header;
    char data[1024];
};

static struct rtattr *attribute(struct nlmsghdr *header, unsigned short type, const void *value, size_t length) {
    struct rtattr *rta = (struct rtattr *)((char *)header + NLMSG_ALIGN(header->nlmsg_len));
    rta->rta_type = type;
    rta->rta_len = (unsigned short)RTA_LENGTH(length);
    if (length > 0) {
        memcpy(RTA_DATA(rta), value, length);
    }
    header->nlmsg_len = NLMSG_ALIGN(header->nlmsg_len) + RTA_ALIGN(rta->rta_len);
    return rta;
}

static void close_nest(struct nlmsghdr *header, struct rtattr *nest) {
    nest->rta_len = (unsigned short)((char *)header + NLMSG_ALIGN(header->nlmsg_len) - (char *)nest);
}

// Sends one request and reads the kernel's acknowledgement: 0 or the errno.
static int transact(struct nlmsghdr *header) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        return errno;
    }
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    header->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    header->nlmsg_seq = 1;
    if (sendto(fd, header, header->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
        int err = errno;
        close(fd);
        return err;
    }
    char reply[4096];
    ssize_t n;
    do {
        n = recv(fd, reply, sizeof(reply), 0);
    } while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : EPROTO;
    if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
        struct nlmsghdr *answer = (struct nlmsghdr *)reply;
        if (answer->nlmsg_type == NLMSG_ERROR) {
            err = -((struct nlmsgerr *)NLMSG_DATA(answer))->error;
        }
    }
    close(fd);
    return err;
}

// Address and link up, by ioctl, in the namespace the calling thread is in.
static int configure(const char *name, const char *address, int prefix) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    struct sockaddr_in *in = (struct sockaddr_in *)&request.ifr_addr;
    in->sin_family = AF_INET;
    int err = 0;
    if (inet_pton(AF_INET, address, &in->sin_addr) != 1) {
        err = EINVAL;
    } else if (ioctl(fd, SIOCSIFADDR, &request) < 0) {
        err = errno;
    } else {
        in->sin_addr.s_addr = prefix == 0 ? 0 : htonl(~0U << (32 - prefix));
        if (ioctl(fd, SIOCSIFNETMASK, &request) < 0) {
            err = errno;
        } else if (ioctl(fd, SIOCGIFFLAGS, &request) < 0) {
            err = errno;
        } else {
            request.ifr_flags |= IFF_UP | IFF_RUNNING;
            if (ioctl(fd, SIOCSIFFLAGS, &request) < 0) {
                err = errno;
            }
        }
    }
    close(fd);
    return err;
}

// Runs configure() inside the network namespace of `pid`, then returns the
// calling thread to its own (setns of a network namespace is per thread).
static int configure_in(int pid, const char *name, const char *address, int prefix) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
        return errno;
    }
    int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own < 0) {
        int err = errno;
        close(target);
        return err;
    }
    int err = setns(target, CLONE_NEWNET) == 0 ? configure(name, address, prefix) : errno;
    if (setns(own, CLONE_NEWNET) != 0 && err == 0) {
        err = errno;
    }
    close(target);
    close(own);
    return err;
}

int lab_veth_pair(int pid_a, const char *name_a, const char *address_a, int pid_b, const char *name_b, const char *address_b,
                  int prefix) {
    if (strlen(name_a) >= IFNAMSIZ || strlen(name_b) >= IFNAMSIZ) {
        return ENAMETOOLONG;
    }
    struct message request;
    memset(&request, 0, sizeof(request));
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    request.header.nlmsg_type = RTM_NEWLINK;
    request.header.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    attribute(&request.header, IFLA_IFNAME, name_a, strlen(name_a) + 1);
    uint32_t ns_a = (uint32_t)pid_a;
    attribute(&request.header, IFLA_NET_NS_PID, &ns_a, sizeof(ns_a));
    struct rtattr *info = attribute(&request.header, IFLA_LINKINFO, NULL, 0);
    attribute(&request.header, IFLA_INFO_KIND, "veth", 4);
    struct rtattr *data = attribute(&request.header, IFLA_INFO_DATA, NULL, 0);
    struct rtattr *peer = attribute(&request.header, VETH_INFO_PEER, NULL, 0);
    // The peer's own ifinfomsg, then its attributes.
    request.header.nlmsg_len += NLMSG_ALIGN(sizeof(struct ifinfomsg));
    attribute(&request.header, IFLA_IFNAME, name_b, strlen(name_b) + 1);
    uint32_t ns_b = (uint32_t)pid_b;
    attribute(&request.header, IFLA_NET_NS_PID, &ns_b, sizeof(ns_b));
    close_nest(&request.header, peer);
    close_nest(&request.header, data);
    close_nest(&request.header, info);
    int err = transact(&request.header);
    if (err != 0) {
        return err;
    }
    err = configure_in(pid_a, name_a, address_a, prefix);
    if (err == 0) {
        err = configure_in(pid_b, name_b, address_b, prefix);
    }
    return err;
}
