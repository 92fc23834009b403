// The libvirt C API, loaded on first use. Only LabVirt imports this module.
//
// Why not link libvirt: linking it makes every isolab command load
// libvirt.so and its ~60 dependencies (gnutls, p11-kit, curl, ssh, ...),
// whose initialisers run at every start (docs/vms.md), before
// `isolab --version` or `isolab report` does anything. The API is the same
// C API, called through a table of function pointers that lab_libvirt_api()
// fills with dlopen/dlsym the first time a VM is touched.
#ifndef LAB_LIBVIRT_H
#define LAB_LIBVIRT_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stddef.h>

#define LAB_LIBVIRT_FUNCTIONS(X)                                                                      \
    X(virInitialize) X(virSetErrorFunc) X(virEventRegisterDefaultImpl) X(virEventRunDefaultImpl)      \
    X(virGetLastError) X(virGetVersion) X(virConnectOpen) X(virConnectClose)                          \
    X(virConnectDomainEventRegisterAny) X(virConnectDomainEventDeregisterAny) X(virConnectGetVersion) \
    X(virConnectGetLibVersion) X(virConnectListAllDomains) X(virDomainCreateXML) X(virDomainFree)     \
    X(virDomainGetName) X(virDomainLookupByName) X(virDomainIsActive) X(virDomainUndefine)            \
    X(virDomainDestroy) X(virDomainGetInfo)

/// Every libvirt function the lab calls.
struct lab_libvirt_api {
#define LAB_LIBVIRT_FIELD(name) __typeof__(name) *_Nonnull name;
    LAB_LIBVIRT_FUNCTIONS(LAB_LIBVIRT_FIELD)
#undef LAB_LIBVIRT_FIELD
};

/// The table, loaded once (thread-safe); NULL with a one-line reason in
/// `error` when libvirt.so.0 or one of the functions cannot be loaded.
const struct lab_libvirt_api *_Nullable lab_libvirt_api(char *_Nonnull error, size_t size);

#endif
