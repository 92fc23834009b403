// The first thing isolab-agent does as a VM's PID 1, before the Swift runtime starts.
#ifndef AGENT_INIT_H
#define AGENT_INIT_H

/// 1 when the agent started as PID 1 without /proc (a VM's init) and mounted
/// /proc itself before the Swift runtime started; 0 otherwise.
int lab_agent_started_as_vm_init(void);

/// The process's arguments as the kernel passed them. Swift's
/// CommandLine.arguments reads /proc/self/cmdline in a static executable,
/// which a chroot without /proc does not have.
int lab_agent_argc(void);
char **lab_agent_argv(void);

#endif
