// Umbrella header for libseccomp (apt: libseccomp-dev). Only LabContainer imports it.
#include <seccomp.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/memfd.h>
#include <linux/filter.h>

// The macros Swift cannot import: the actions with an argument, and the
// argument comparisons.
static inline uint32_t lab_scmp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
static inline struct scmp_arg_cmp lab_scmp_masked_eq(unsigned int arg, scmp_datum_t mask, scmp_datum_t value) {
    struct scmp_arg_cmp cmp = {arg, SCMP_CMP_MASKED_EQ, mask, value};
    return cmp;
}
static inline struct scmp_arg_cmp lab_scmp_eq(unsigned int arg, scmp_datum_t value) {
    struct scmp_arg_cmp cmp = {arg, SCMP_CMP_EQ, value, 0};
    return cmp;
}
static inline unsigned long lab_tiocsti(void) { return TIOCSTI; }
// memfd_create needs _GNU_SOURCE, which Swift's Glibc does not define.
static inline int lab_memfd(const char *name) { return (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC); }
static inline unsigned long lab_tioclinux(void) { return TIOCLINUX; }
