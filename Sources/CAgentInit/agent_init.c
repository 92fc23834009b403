// In C, and in .preinit_array, because the statically linked Swift runtime
// looks up its own path through /proc during start-up and aborts ("Unable to
// obtain Swift runtime path") when /proc is not mounted, which is the case for
// a VM's PID 1 started from an initramfs. .preinit_array runs before every
// constructor of a static executable, so /proc is there when the runtime looks.
#include "agent_init.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int started_as_vm_init = 0;

static void lab_agent_preinit(int argc, char **argv, char **envp) {
    (void)argc;
    (void)argv;
    (void)envp;
    if (getpid() != 1 || access("/proc/self", F_OK) == 0) {
        return;
    }
    started_as_vm_init = 1;
    mkdir("/proc", 0555);
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

__attribute__((section(".preinit_array"), used))
static void (*const lab_agent_preinit_entry)(int, char **, char **) = lab_agent_preinit;

int lab_agent_started_as_vm_init(void) {
    return started_as_vm_init;
}
