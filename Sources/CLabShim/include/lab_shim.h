// C for what Swift cannot do safely or at all. Every symbol is prefixed lab_;
// each says why it is in C.
#ifndef LAB_SHIM_H
#define LAB_SHIM_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The errno symbol ("EACCES"), or NULL when glibc has none for it.
/// In C because strerrorname_np is a GNU extension Glibc does not import into Swift.
const char *lab_errno_name(int err);

/// Creates a short-lived child directly inside new namespaces (`flags` is a
/// set of CLONE_NEW* bits), waits for it and returns 0, or the errno of the
/// clone. In C because the child of a multi-threaded process may only make
/// async-signal-safe calls: it runs no Swift, it only exits.
int lab_probe_namespaces(int flags);

/// The CLONE_NEW* constants, which Glibc's Swift overlay does not export.
int lab_clone_newpid(void);
int lab_clone_newns(void);
int lab_clone_newuts(void);
int lab_clone_newipc(void);
int lab_clone_newnet(void);
int lab_clone_newcgroup(void);
int lab_clone_newuser(void);

/// Opens /dev/kvm, reads KVM_GET_API_VERSION into *api_version and tries
/// KVM_CREATE_VM. Returns 0 when a VM could be created, else the errno of
/// the step that failed, and sets *step to 1 (open), 2 (api version) or
/// 3 (create VM). In C because the ioctl numbers are macros Swift cannot import.
int lab_kvm_check(int *api_version, int *step);

/// The file-system magic (`f_type`) of the file system holding `path`, or
/// -errno. In C because Glibc's Swift module does not export statfs.
long lab_statfs_type(const char *path);

#ifdef __cplusplus
}
#endif

#endif
