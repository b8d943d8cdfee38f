// Float32 <-> Float16 / BFloat16 conversions (rules in convert.h): scalar references plus
// AVX2+F16C and AVX-512 paths. The 16-bit side is read and written with memcpy (scalar) or
// unaligned vector loads/stores, because tensor data inside a mapped file need not be aligned.
#include <immintrin.h>
#include <string.h>
#include "ckernels.h"
#include "convert.h"

static inline uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint16_t load_u16(const void *base, size_t i) {
    uint16_t v; memcpy(&v, (const unsigned char *)base + 2 * i, 2); return v;
}
static inline void store_u16(void *base, size_t i, uint16_t v) {
    memcpy((unsigned char *)base + 2 * i, &v, 2);
}

float ck_bf16_to_f32(uint16_t b) { return float_of((uint32_t)b << 16); }

uint16_t ck_f32_to_bf16(float f) {
    uint32_t u = bits_of(f);
    // Every NaN becomes 0xFFFF, as PyTorch's vectorised CPU conversion writes it.
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0xffffu;
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float ck_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1f) // inf, or NaN made quiet (as the hardware conversion does)
        return float_of(sign | 0x7f800000u | (mantissa << 13) | (mantissa ? 0x400000u : 0));
    if (exponent == 0) {
        if (mantissa == 0) return float_of(sign);
        // Subnormal half: normalise into a float exponent.
        exponent = 1;
        while (!(mantissa & 0x400u)) { mantissa <<= 1; exponent--; }
        mantissa &= 0x3ffu;
    }
    return float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

uint16_t ck_f32_to_f16(float f) {
    uint32_t u = bits_of(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u | (uint16_t)((a >> 13) & 0x3ffu); // NaN, quiet
    if (a >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity
    if (a >= 0x38800000u) {                       // normal half (>= 2^-14)
        uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u);
        return sign | (uint16_t)((rounded - 0x38000000u) >> 13);
    }
    uint32_t e = a >> 23;
    if (e < 102) return sign;                     // below 2^-25 (a tie at 2^-25 goes to 0)
    // Subnormal half: value / 2^-24 rounded to an integer, ties to even.
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;                     // 14 ... 24
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return sign | (uint16_t)q;
}

// ---- AVX2 + F16C ----

__attribute__((target("avx2,fma,f16c")))
static void f16_to_f32_avx2(const void *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const unsigned char *)src + 2 * i))));
    for (; i < n; i++) dst[i] = ck_f16_to_f32(load_u16(src, i));
}

__attribute__((target("avx2,fma,f16c")))
static void bf16_to_f32_avx2(const void *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const unsigned char *)src + 2 * i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(wide, 16));
    }
    for (; i < n; i++) dst[i] = ck_bf16_to_f32(load_u16(src, i));
}

__attribute__((target("avx2,fma,f16c")))
static void f32_to_f16_avx2(const float *src, void *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(src + i);
        _mm_storeu_si128((__m128i *)((unsigned char *)dst + 2 * i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) store_u16(dst, i, ck_f32_to_f16(src[i]));
}

__attribute__((target("avx2,fma,f16c")))
static inline __m256i bf16_round_avx2(__m256 v) {
    __m256i u = _mm256_castps_si256(v);
    __m256i high = _mm256_srli_epi32(u, 16);
    __m256i bias = _mm256_add_epi32(_mm256_and_si256(high, _mm256_set1_epi32(1)),
                                    _mm256_set1_epi32(0x7fff));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, bias), 16);
    __m256i isNaN = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_blendv_epi8(rounded, _mm256_set1_epi32(0xffff), isNaN);
}

__attribute__((target("avx2,fma,f16c")))
static void f32_to_bf16_avx2(const float *src, void *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i lo = bf16_round_avx2(_mm256_loadu_ps(src + i));
        __m256i hi = bf16_round_avx2(_mm256_loadu_ps(src + i + 8));
        // packus works per 128-bit lane; the permute puts the four quarters back in order.
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8);
        _mm256_storeu_si256((__m256i *)((unsigned char *)dst + 2 * i), packed);
    }
    for (; i < n; i++) store_u16(dst, i, ck_f32_to_bf16(src[i]));
}

// ---- AVX-512 ----

#define CK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

CK_AVX512
static void f16_to_f32_avx512(const void *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const unsigned char *)src + 2 * i))));
    for (; i < n; i++) dst[i] = ck_f16_to_f32(load_u16(src, i));
}

CK_AVX512
static void bf16_to_f32_avx512(const void *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const unsigned char *)src + 2 * i)));
        _mm512_storeu_si512((void *)(dst + i), _mm512_slli_epi32(wide, 16));
    }
    for (; i < n; i++) dst[i] = ck_bf16_to_f32(load_u16(src, i));
}

CK_AVX512
static void f32_to_f16_avx512(const float *src, void *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(src + i);
        _mm256_storeu_si256((__m256i *)((unsigned char *)dst + 2 * i), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) store_u16(dst, i, ck_f32_to_f16(src[i]));
}

CK_AVX512
static void f32_to_bf16_avx512(const float *src, void *dst, size_t n) {
    const __m512i one = _mm512_set1_epi32(1), roundingBias = _mm512_set1_epi32(0x7fff);
    const __m512i nanBits = _mm512_set1_epi32(0xffff);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(src + i);
        __m512i u = _mm512_castps_si512(v);
        __m512i high = _mm512_srli_epi32(u, 16);
        __m512i bias = _mm512_add_epi32(_mm512_and_si512(high, one), roundingBias);
        __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
        __mmask16 isNaN = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        rounded = _mm512_mask_mov_epi32(rounded, isNaN, nanBits);
        _mm256_storeu_si256((__m256i *)((unsigned char *)dst + 2 * i), _mm512_cvtepi32_epi16(rounded));
    }
    for (; i < n; i++) store_u16(dst, i, ck_f32_to_bf16(src[i]));
}

// ---- dispatch ----

static inline int effective_level(int level) {
    int supported = ck_simd_level();
    return level < supported ? level : supported;
}

void ck_convert_f16_to_f32(int level, const void *src, float *dst, size_t n) {
    switch (effective_level(level)) {
    case 2: f16_to_f32_avx512(src, dst, n); return;
    case 1: f16_to_f32_avx2(src, dst, n); return;
    default: for (size_t i = 0; i < n; i++) dst[i] = ck_f16_to_f32(load_u16(src, i));
    }
}

void ck_convert_bf16_to_f32(int level, const void *src, float *dst, size_t n) {
    switch (effective_level(level)) {
    case 2: bf16_to_f32_avx512(src, dst, n); return;
    case 1: bf16_to_f32_avx2(src, dst, n); return;
    default: for (size_t i = 0; i < n; i++) dst[i] = ck_bf16_to_f32(load_u16(src, i));
    }
}

void ck_convert_f32_to_f16(int level, const float *src, void *dst, size_t n) {
    switch (effective_level(level)) {
    case 2: f32_to_f16_avx512(src, dst, n); return;
    case 1: f32_to_f16_avx2(src, dst, n); return;
    default: for (size_t i = 0; i < n; i++) store_u16(dst, i, ck_f32_to_f16(src[i]));
    }
}

void ck_convert_f32_to_bf16(int level, const float *src, void *dst, size_t n) {
    switch (effective_level(level)) {
    case 2: f32_to_bf16_avx512(src, dst, n); return;
    case 1: f32_to_bf16_avx2(src, dst, n); return;
    default: for (size_t i = 0; i < n; i++) store_u16(dst, i, ck_f32_to_bf16(src[i]));
    }
}
