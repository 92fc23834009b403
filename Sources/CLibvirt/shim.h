// Umbrella header for the libvirt C API (apt: libvirt-dev). Only LabVirt imports it.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
