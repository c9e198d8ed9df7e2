#ifndef GMEM_SHA256_H
#define GMEM_SHA256_H

#include <stddef.h>
#include <stdint.h>

/// SHA-256 (FIPS 180-4) in progress: the eight state words, the bytes hashed so far and the
/// part of a 64-byte block not yet compressed.
typedef struct gmem_sha256 {
    uint32_t state[8];
    uint64_t length;
    uint8_t block[64];
    size_t used;
} gmem_sha256;

/// Starts a hash.
void gmem_sha256_init(gmem_sha256 *context);

/// Hashes `count` more bytes.
void gmem_sha256_update(gmem_sha256 *context, const void *bytes, size_t count);

/// Writes the 32-byte digest of everything hashed so far; `context` is left as it was, so a
/// hash can be read and then continued.
void gmem_sha256_final(const gmem_sha256 *context, uint8_t digest[32]);

/// Which compression function this machine uses: 1 for the x86 SHA extensions, 0 for the
/// portable one. `gmem_sha256_force_portable(1)` makes every later hash use the portable one
/// (for tests that check the two agree).
int gmem_sha256_uses_sha_extensions(void);
void gmem_sha256_force_portable(int portable);

#endif
