#include "lab_libvirt.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static struct lab_libvirt_api table;
static const struct lab_libvirt_api *loaded;
static char reason[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    void *library = dlopen("libvirt.so.0", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(reason, sizeof(reason), "cannot load libvirt.so.0 (%s); apt-get install libvirt0 (scripts/setup-host does)", dlerror());
        return;
    }
#define LAB_LIBVIRT_LOAD(name)                                                                          \
    *(void **)&table.name = dlsym(library, #name);                                                     \
    if (*(void **)&table.name == NULL) {                                                               \
        snprintf(reason, sizeof(reason), "libvirt.so.0 has no %s: libvirt is too old for the lab", #name); \
        return;                                                                                        \
    }
    LAB_LIBVIRT_FUNCTIONS(LAB_LIBVIRT_LOAD)
#undef LAB_LIBVIRT_LOAD
    loaded = &table;
}

const struct lab_libvirt_api *lab_libvirt_api(char *error, size_t size) {
    pthread_once(&once, load);
    if (loaded == NULL && size > 0) {
        snprintf(error, size, "%s", reason);
    }
    return loaded;
}
