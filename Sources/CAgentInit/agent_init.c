// In C, and in .preinit_array, because the statically linked Swift runtime
// looks up its own path during start-up (a static initializer of its
// backtracer asks for the path of swift-backtrace) through dladdr, which in a
// static executable reads /proc/self/exe, and aborts ("Unable to obtain Swift
// runtime path") when /proc is not mounted: the case of a VM's PID 1 started
// from an initramfs, and of a plain chroot. .preinit_array runs before every
// constructor of a static executable, so this comes first.
#include "agent_init.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int started_as_vm_init = 0;
static int saved_argc = 0;
static char **saved_argv = NULL;

static void lab_agent_preinit(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
    if (access("/proc/self/exe", F_OK) == 0) {
        return;
    }
    if (getpid() == 1) {
        // A VM's init: /proc is ours to mount, and the agent needs it anyway.
        started_as_vm_init = 1;
        mkdir("/proc", 0555);
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        if (access("/proc/self/exe", F_OK) == 0) {
            return;
        }
    }
    // Not ours to mount (a chroot): SWIFT_ROOT spares the runtime the lookup;
    // the root it names holds no swift-backtrace, so crashes are not symbolicated.
    setenv("SWIFT_ROOT", "/nonexistent-swift-root/", 0);
}

__attribute__((section(".preinit_array"), used))
static void (*const lab_agent_preinit_entry)(int, char **, char **) = lab_agent_preinit;

int lab_agent_started_as_vm_init(void) {
    return started_as_vm_init;
}

int lab_agent_argc(void) {
    return saved_argc;
}

char **lab_agent_argv(void) {
    return saved_argv;
}
