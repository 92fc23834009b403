#include "lab_archive.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static struct lab_archive_api table;
static const struct lab_archive_api *loaded;
static char reason[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    void *library = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(reason, sizeof(reason), "cannot load libarchive.so.13 (%s); apt-get install libarchive13 (scripts/setup-host does)", dlerror());
        return;
    }
#define LAB_ARCHIVE_LOAD(name)                                                                            \
    *(void **)&table.name = dlsym(library, #name);                                                       \
    if (*(void **)&table.name == NULL) {                                                                 \
        snprintf(reason, sizeof(reason), "libarchive.so.13 has no %s: libarchive is older than 3.3", #name); \
        return;                                                                                          \
    }
    LAB_ARCHIVE_FUNCTIONS(LAB_ARCHIVE_LOAD)
#undef LAB_ARCHIVE_LOAD
    loaded = &table;
}

const struct lab_archive_api *lab_archive_api(char *error, size_t size) {
    pthread_once(&once, load);
    if (loaded == NULL && size > 0) {
        snprintf(error, size, "%s", reason);
    }
    return loaded;
}
