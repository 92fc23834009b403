// C that both sides of the lab use: the host (its own code and a
// container's spawn path) and the agent inside every instance. Every symbol
// is prefixed lab_; each says why it is in C.
#ifndef LAB_SHARED_H
#define LAB_SHARED_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The errno symbol ("EACCES"), or NULL when glibc has none for it.
/// In C because strerrorname_np is a GNU extension Glibc does not import into Swift.
const char *lab_errno_name(int err);

/// Writes `EACCES (permission denied)` for `err` into `buffer`: the lab's one
/// way of naming an errno, shared by the lab and the agent (which links no
/// Foundation). In C because strerrorname_np is a GNU extension.
void lab_errno_describe(int err, char *buffer, size_t size);

/// Brings the loopback interface `lo` up in the calling process's network
/// namespace (a new namespace, or a VM just booted, has it down). Returns 0
/// or an errno. In C because struct ifreq and SIOCSIFFLAGS are macros and
/// unions Swift does not import well.
int lab_loopback_up(void);

#ifdef __cplusplus
}
#endif

#endif
