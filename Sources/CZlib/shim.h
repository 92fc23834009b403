// Umbrella header for zlib (apt: zlib1g-dev). Only LabImage imports it, to gzip an initramfs.
#include <zlib.h>
