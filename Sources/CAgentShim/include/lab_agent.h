// The agent's C: what it does inside an instance that Swift cannot (it
// links no Foundation), and its escape probes. Reached only from
// LabAgentCore. Every symbol is prefixed lab_; each says why it is in C.
#ifndef LAB_AGENT_H
#define LAB_AGENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// sync() then reboot(RB_POWER_OFF): the end of a VM's PID 1. Returns only
/// on failure, with the errno. In C because RB_POWER_OFF is a macro of
/// <sys/reboot.h>, which Glibc does not import.
int lab_power_off(void);

/// finit_module(2) of a .ko file: 0, or the errno. In C because glibc
/// declares no wrapper for it. For a VM's init, which has no modprobe.
int lab_load_module(const char *path);

/// Starts a program for the agent's exec (a VM's command): fork, then in the
/// child stdin from /dev/null, stdout and stderr onto the given pipes,
/// chdir, the uid and gid when `set_user`, `environ = envp` and execvp (the
/// image's PATH). Returns the pid, or -errno when the exec failed (reported
/// through a close-on-exec pipe, so that a missing program is an error here,
/// not a 127 later). In C because Swift must not run between fork and exec.
int lab_spawn_program(char *const argv[], char *const envp[], const char *workdir, int set_user, unsigned uid, unsigned gid,
                      int stdout_fd, int stderr_fd);

/// The escape probes (lab_probes.c): 0 when the kernel let the call
/// through, else the errno. Each is harmless by construction.
int lab_probe_mknod_open(const char *path, int block, unsigned major, unsigned minor, int read_block);
int lab_probe_open(const char *path, int flags);
int lab_probe_mount(const char *directory);
int lab_probe_finit_module(void);
int lab_probe_init_module(void);
int lab_probe_kexec_load(void);
int lab_probe_open_by_handle_at(void);
int lab_probe_bpf(void);
int lab_probe_perf_event_open(void);
int lab_probe_keyctl(void);
int lab_probe_userns_mount(void);
int lab_probe_ptrace(int target);
int lab_probe_chroot_escape(const char *scratch, const char *marker);
int lab_probe_tiocsti(int fd, int take_terminal);

#ifdef __cplusplus
}
#endif

#endif
