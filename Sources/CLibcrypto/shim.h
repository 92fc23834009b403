// OpenSSL's libcrypto, for SHA-256 at the speed of the CPU's own
// instructions (SHA-NI, AVX2): a registry's blobs are hashed as they arrive.
#include <openssl/evp.h>
