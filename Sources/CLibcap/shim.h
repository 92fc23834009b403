// Umbrella header for libcap (apt: libcap-dev). Only LabContainer imports it.
#include <sys/capability.h>
