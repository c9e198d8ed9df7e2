// SHA-256 (FIPS 180-4) for the hash chain, the Merkle tree and the input files' identity.
// The compression runs on the x86 SHA extensions (SHA-NI) where the CPU has them and in
// portable C elsewhere; both give the same digests (Sha256Tests).
#include "sha256.h"

#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void compress_portable(uint32_t state[8], const uint8_t *data, size_t blocks) {
    while (blocks--) {
        uint32_t w[64];
        for (int t = 0; t < 16; t++) {
            w[t] = (uint32_t)data[4 * t] << 24 | (uint32_t)data[4 * t + 1] << 16 | (uint32_t)data[4 * t + 2] << 8
                | (uint32_t)data[4 * t + 3];
        }
        for (int t = 16; t < 64; t++) {
            uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
        for (int t = 0; t < 64; t++) {
            uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
            uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g; g = f; f = e; e = d + t1;
            d = c; c = b; b = a; a = t1 + t2;
        }
        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
        data += 64;
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>

// The SHA extensions keep the state as ABEF and CDGH. Each group of four rounds takes four
// message words: the first four groups from the block, the others from the schedule
// W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], built with sha256msg1/msg2.
__attribute__((target("sha,sse4.1,ssse3")))
static void compress_sha_extensions(uint32_t state[8], const uint8_t *data, size_t blocks) {
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);     // DCBA
    __m128i state1 = _mm_loadu_si128((const __m128i *)&state[4]);  // HGFE
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                            // CDAB
    state1 = _mm_shuffle_epi32(state1, 0x1B);                      // EFGH
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);              // ABEF
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);                   // CDGH
    while (blocks--) {
        const __m128i abef = state0, cdgh = state1;
        __m128i w[4];
#pragma clang loop unroll(full)
        for (int group = 0; group < 16; group++) {
            __m128i words;
            if (group < 4) {
                words = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * group)), byteswap);
            } else {
                __m128i older = _mm_sha256msg1_epu32(w[group & 3], w[(group + 1) & 3]);
                older = _mm_add_epi32(older, _mm_alignr_epi8(w[(group + 3) & 3], w[(group + 2) & 3], 4));
                words = _mm_sha256msg2_epu32(older, w[(group + 3) & 3]);
            }
            w[group & 3] = words;
            __m128i message = _mm_add_epi32(words, _mm_loadu_si128((const __m128i *)&K[4 * group]));
            state1 = _mm_sha256rnds2_epu32(state1, state0, message);
            message = _mm_shuffle_epi32(message, 0x0E);
            state0 = _mm_sha256rnds2_epu32(state0, state1, message);
        }
        state0 = _mm_add_epi32(state0, abef);
        state1 = _mm_add_epi32(state1, cdgh);
        data += 64;
    }
    tmp = _mm_shuffle_epi32(state0, 0x1B);                         // FEBA
    state1 = _mm_shuffle_epi32(state1, 0xB1);                      // DCHG
    state0 = _mm_blend_epi16(tmp, state1, 0xF0);                   // DCBA
    state1 = _mm_alignr_epi8(state1, tmp, 8);                      // HGFE
    _mm_storeu_si128((__m128i *)&state[0], state0);
    _mm_storeu_si128((__m128i *)&state[4], state1);
}

static int detect_sha_extensions(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return ssse3 && sse41 && ((b >> 29) & 1);
}
#else
static void compress_sha_extensions(uint32_t state[8], const uint8_t *data, size_t blocks) {
    compress_portable(state, data, blocks);
}
static int detect_sha_extensions(void) { return 0; }
#endif

// -1 until the first hash asks the CPU; then 0 or 1. A benign race: every thread computes
// the same answer.
static int sha_extensions = -1;
static int portable_forced = 0;

int gmem_sha256_uses_sha_extensions(void) {
    if (sha_extensions < 0) sha_extensions = detect_sha_extensions();
    return sha_extensions && !portable_forced;
}

void gmem_sha256_force_portable(int portable) { portable_forced = portable != 0; }

static void compress(uint32_t state[8], const uint8_t *data, size_t blocks) {
    if (gmem_sha256_uses_sha_extensions()) {
        compress_sha_extensions(state, data, blocks);
    } else {
        compress_portable(state, data, blocks);
    }
}

void gmem_sha256_init(gmem_sha256 *context) {
    static const uint32_t initial[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };
    memcpy(context->state, initial, sizeof initial);
    context->length = 0;
    context->used = 0;
}

void gmem_sha256_update(gmem_sha256 *context, const void *bytes, size_t count) {
    const uint8_t *data = bytes;
    context->length += count;
    if (context->used > 0) {
        size_t take = 64 - context->used < count ? 64 - context->used : count;
        memcpy(context->block + context->used, data, take);
        context->used += take;
        data += take;
        count -= take;
        if (context->used < 64) return;
        compress(context->state, context->block, 1);
        context->used = 0;
    }
    if (count >= 64) {
        compress(context->state, data, count / 64);
        data += count / 64 * 64;
        count %= 64;
    }
    if (count > 0) {
        memcpy(context->block, data, count);
        context->used = count;
    }
}

void gmem_sha256_final(const gmem_sha256 *context, uint8_t digest[32]) {
    uint32_t state[8];
    uint8_t tail[128] = {0};
    memcpy(state, context->state, sizeof state);
    memcpy(tail, context->block, context->used);
    tail[context->used] = 0x80;
    size_t blocks = context->used < 56 ? 1 : 2;
    uint64_t bits = context->length * 8;
    for (int i = 0; i < 8; i++) tail[blocks * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
    compress(state, tail, blocks);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)state[i];
    }
}
