// Half-precision conversions for checkpoint loading and writing (see ck_halfconv.h).
// Every element is read and written with memcpy because tensor data inside a mapped file
// need not be aligned; compilers turn these into plain loads.
#include "ck_halfconv.h"
#include "ckernels.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_X86 1
#endif

static inline uint16_t load_u16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline void store_u16(unsigned char *p, uint16_t v) { memcpy(p, &v, 2); }
static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static inline float f16_to_f32_one(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    if (exp == 0x1F) {
        // Infinity, or NaN with its payload moved up and the quiet bit set (as F16C does).
        return bits_f32(sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0));
    }
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        // Subnormal: value = man * 2^-24, exactly representable as a normal float.
        int shift = 0;
        while ((man & 0x400) == 0) { man <<= 1; shift++; }
        man &= 0x3FF;
        return bits_f32(sign | ((uint32_t)(113 - shift) << 23) | (man << 13));
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

static inline uint16_t f32_to_f16_one(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t exp = (x >> 23) & 0xFF;
    uint32_t man = x & 0x7FFFFF;
    // NaN keeps its top payload bits and becomes quiet, exactly what F16C's vcvtps2ph does.
    if (exp == 0xFF) return sign | (man ? (uint16_t)(0x7E00 | (man >> 13)) : 0x7C00);
    if (exp >= 143) return sign | 0x7C00;              // |f| >= 2^16: beyond the largest half
    if (exp >= 113) {                                   // a normal half
        uint32_t h = ((exp - 112) << 10) | (man >> 13);
        uint32_t rest = man & 0x1FFF;
        if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;   // a carry may reach infinity
        return sign | (uint16_t)h;
    }
    if (exp < 102) return sign;                         // below half the smallest subnormal
    uint32_t full = man | 0x800000;                     // subnormal half: full * 2^(exp-150)
    uint32_t shift = 126 - exp;                         // 14 ... 24
    uint32_t h = full >> shift;
    uint32_t rest = full & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (h & 1))) h++;
    return sign | (uint16_t)h;
}

void ck_st_f16_to_f32_ref(const void *src, float *dst, size_t n) {
    const unsigned char *s = (const unsigned char *)src;
    for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32_one(load_u16(s + 2 * i));
}

void ck_st_f32_to_f16_ref(const float *src, void *dst, size_t n) {
    unsigned char *d = (unsigned char *)dst;
    for (size_t i = 0; i < n; i++) store_u16(d + 2 * i, f32_to_f16_one(src[i]));
}

void ck_st_bf16_to_f32(const void *src, float *dst, size_t n) {
    const unsigned char *s = (const unsigned char *)src;
    for (size_t i = 0; i < n; i++) dst[i] = bits_f32((uint32_t)load_u16(s + 2 * i) << 16);
}

void ck_st_f32_to_bf16(const float *src, void *dst, size_t n) {
    unsigned char *d = (unsigned char *)dst;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = f32_bits(src[i]);
        uint16_t b;
        if ((x & 0x7FFFFFFFu) > 0x7F800000u) b = 0xFFFF;   // what torch's CPU .to(bfloat16) writes
        else b = (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1)) >> 16);
        store_u16(d + 2 * i, b);
    }
}

#ifdef CK_X86
__attribute__((target("avx2,f16c")))
static void f16_to_f32_f16c(const void *src, float *dst, size_t n) {
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(s + 2 * i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    ck_st_f16_to_f32_ref(s + 2 * i, dst + i, n - i);
}

__attribute__((target("avx2,f16c")))
static void f32_to_f16_f16c(const float *src, void *dst, size_t n) {
    unsigned char *d = (unsigned char *)dst;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(src + i);
        __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(d + 2 * i), h);
    }
    ck_st_f32_to_f16_ref(src + i, d + 2 * i, n - i);
}

static int f16c_available(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = ck_simd_level() >= 1 && __builtin_cpu_supports("f16c");
    }
    return cached;
}
#endif

int ck_st_has_f16c(void) {
#ifdef CK_X86
    return f16c_available();
#else
    return 0;
#endif
}

void ck_st_f16_to_f32(const void *src, float *dst, size_t n) {
#ifdef CK_X86
    if (f16c_available()) { f16_to_f32_f16c(src, dst, n); return; }
#endif
    ck_st_f16_to_f32_ref(src, dst, n);
}

void ck_st_f32_to_f16(const float *src, void *dst, size_t n) {
#ifdef CK_X86
    if (f16c_available()) { f32_to_f16_f16c(src, dst, n); return; }
#endif
    ck_st_f32_to_f16_ref(src, dst, n);
}
