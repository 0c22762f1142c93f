// SHA-256 (FIPS 180-4), for the integrity of Berth's cached seccomp programs: the Swift side
// records the digest when it compiles a program, the static shim checks it before loading.
// Plain C with no allocation; the shim links libc only, so no crypto library can be used.
#ifndef BERTH_DIGEST_H
#define BERTH_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/// The SHA-256 digest of `len` bytes at `data`, into `out` (32 bytes).
void berth_sha256(const void *data, size_t len, uint8_t out[32]);

#endif
