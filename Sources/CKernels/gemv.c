// Matrix-vector products y = x·Wᵀ for a few input rows (decode), with W in F32, BF16 or F16.
// Decode is memory-bound: the weights stream through once, so half-precision storage halves
// the bytes moved. Each SIMD kernel works on a tile of 4 weight rows at a time (8 independent
// FMA chains hide the FMA latency) and widens half-precision weights in registers.
#include <immintrin.h>
#include "ckernels.h"
#include "convert.h"
#include "gemv.h"

static inline float load_f32(const float *w, size_t i) { return w[i]; }
static inline float load_bf16(const uint16_t *w, size_t i) { return ck_bf16_to_f32(w[i]); }
static inline float load_f16(const uint16_t *w, size_t i) { return ck_f16_to_f32(w[i]); }

// Scalar reference: one dot product per (input row, output row), summed in order.
#define DEFINE_GEMV_SCALAR(NAME, WT, LOAD1)                                                   \
    static void NAME(const WT *w, size_t k, size_t o0, size_t o1, const float *x, size_t ldx, \
                     size_t rows, float *y, size_t ldy, int accumulate) {                     \
        for (size_t r = 0; r < rows; r++) {                                                   \
            const float *xr = x + r * ldx;                                                    \
            for (size_t o = o0; o < o1; o++) {                                                \
                const WT *wo = w + o * k;                                                     \
                float sum = 0;                                                                \
                for (size_t i = 0; i < k; i++) sum += xr[i] * LOAD1(wo, i);                   \
                y[r * ldy + o] = accumulate ? y[r * ldy + o] + sum : sum;                     \
            }                                                                                 \
        }                                                                                     \
    }

DEFINE_GEMV_SCALAR(gemv_f32_scalar, float, load_f32)
DEFINE_GEMV_SCALAR(gemv_bf16_scalar, uint16_t, load_bf16)
DEFINE_GEMV_SCALAR(gemv_f16_scalar, uint16_t, load_f16)

// ---- AVX2 + FMA + F16C ----

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))

CK_AVX2 static inline __m256 load8_f32(const float *p) { return _mm256_loadu_ps(p); }
CK_AVX2 static inline __m256 load8_bf16(const uint16_t *p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
CK_AVX2 static inline __m256 load8_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
CK_AVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline void store_out(float *y, size_t index, float value, int accumulate) {
    y[index] = accumulate ? y[index] + value : value;
}

// For each input row: 4 weight rows at a time, k unrolled by 16 (two accumulators per row),
// then single weight rows for the remainder; elements past the last multiple of 8 in scalar.
#define DEFINE_GEMV_SIMD(NAME, ATTR, WT, VEC, W, LOADV, FMA, ADD, ZERO, HSUM, LOAD1)          \
    ATTR static void NAME(const WT *w, size_t k, size_t o0, size_t o1, const float *x,        \
                          size_t ldx, size_t rows, float *y, size_t ldy, int accumulate) {    \
        const size_t kv = k - k % W;                                                          \
        for (size_t o = o0; o + 4 <= o1; o += 4) {                                            \
            const WT *w0 = w + o * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;               \
            for (size_t r = 0; r < rows; r++) {                                               \
                const float *xr = x + r * ldx;                                                \
                VEC a0 = ZERO, a1 = ZERO, a2 = ZERO, a3 = ZERO;                               \
                VEC b0 = ZERO, b1 = ZERO, b2 = ZERO, b3 = ZERO;                               \
                size_t i = 0;                                                                 \
                for (; i + 2 * W <= k; i += 2 * W) {                                          \
                    VEC xa = LOADV##_f32(xr + i), xb = LOADV##_f32(xr + i + W);               \
                    a0 = FMA(LOADV##_##WT##_(w0 + i), xa, a0);                                \
                    a1 = FMA(LOADV##_##WT##_(w1 + i), xa, a1);                                \
                    a2 = FMA(LOADV##_##WT##_(w2 + i), xa, a2);                                \
                    a3 = FMA(LOADV##_##WT##_(w3 + i), xa, a3);                                \
                    b0 = FMA(LOADV##_##WT##_(w0 + i + W), xb, b0);                            \
                    b1 = FMA(LOADV##_##WT##_(w1 + i + W), xb, b1);                            \
                    b2 = FMA(LOADV##_##WT##_(w2 + i + W), xb, b2);                            \
                    b3 = FMA(LOADV##_##WT##_(w3 + i + W), xb, b3);                            \
                }                                                                             \
                if (i < kv) {                                                                 \
                    VEC xa = LOADV##_f32(xr + i);                                             \
                    a0 = FMA(LOADV##_##WT##_(w0 + i), xa, a0);                                \
                    a1 = FMA(LOADV##_##WT##_(w1 + i), xa, a1);                                \
                    a2 = FMA(LOADV##_##WT##_(w2 + i), xa, a2);                                \
                    a3 = FMA(LOADV##_##WT##_(w3 + i), xa, a3);                                \
                }                                                                             \
                float s0 = HSUM(ADD(a0, b0)), s1 = HSUM(ADD(a1, b1));                         \
                float s2 = HSUM(ADD(a2, b2)), s3 = HSUM(ADD(a3, b3));                         \
                for (size_t t = kv; t < k; t++) {                                             \
                    s0 += xr[t] * LOAD1(w0, t); s1 += xr[t] * LOAD1(w1, t);                   \
                    s2 += xr[t] * LOAD1(w2, t); s3 += xr[t] * LOAD1(w3, t);                   \
                }                                                                             \
                float *yr = y + r * ldy;                                                      \
                store_out(yr, o, s0, accumulate); store_out(yr, o + 1, s1, accumulate);       \
                store_out(yr, o + 2, s2, accumulate); store_out(yr, o + 3, s3, accumulate);   \
            }                                                                                 \
        }                                                                                     \
        for (size_t o = o0 + (o1 - o0) / 4 * 4; o < o1; o++) {                                \
            const WT *w0 = w + o * k;                                                         \
            for (size_t r = 0; r < rows; r++) {                                               \
                const float *xr = x + r * ldx;                                                \
                VEC a0 = ZERO;                                                                \
                for (size_t i = 0; i < kv; i += W)                                            \
                    a0 = FMA(LOADV##_##WT##_(w0 + i), LOADV##_f32(xr + i), a0);               \
                float s0 = HSUM(a0);                                                          \
                for (size_t t = kv; t < k; t++) s0 += xr[t] * LOAD1(w0, t);                   \
                store_out(y + r * ldy, o, s0, accumulate);                                    \
            }                                                                                 \
        }                                                                                     \
    }

// Per-type vector loads named so the macro can paste LOADV##_##WT##_.
#define load8_float_ load8_f32
#define load8_uint16_t_ load8_bf16
DEFINE_GEMV_SIMD(gemv_f32_avx2, CK_AVX2, float, __m256, 8, load8, _mm256_fmadd_ps, _mm256_add_ps,
                 _mm256_setzero_ps(), hsum8, load_f32)
DEFINE_GEMV_SIMD(gemv_bf16_avx2, CK_AVX2, uint16_t, __m256, 8, load8, _mm256_fmadd_ps,
                 _mm256_add_ps, _mm256_setzero_ps(), hsum8, load_bf16)
#undef load8_uint16_t_
#define load8_uint16_t_ load8_f16
DEFINE_GEMV_SIMD(gemv_f16_avx2, CK_AVX2, uint16_t, __m256, 8, load8, _mm256_fmadd_ps,
                 _mm256_add_ps, _mm256_setzero_ps(), hsum8, load_f16)
#undef load8_uint16_t_

// ---- AVX-512 ----

#define CK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

CK_AVX512 static inline __m512 load16_f32(const float *p) { return _mm512_loadu_ps(p); }
CK_AVX512 static inline __m512 load16_bf16(const uint16_t *p) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
CK_AVX512 static inline __m512 load16_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
CK_AVX512 static inline float hsum16(__m512 v) { return _mm512_reduce_add_ps(v); }

#define load16_float_ load16_f32
#define load16_uint16_t_ load16_bf16
DEFINE_GEMV_SIMD(gemv_f32_avx512, CK_AVX512, float, __m512, 16, load16, _mm512_fmadd_ps,
                 _mm512_add_ps, _mm512_setzero_ps(), hsum16, load_f32)
DEFINE_GEMV_SIMD(gemv_bf16_avx512, CK_AVX512, uint16_t, __m512, 16, load16, _mm512_fmadd_ps,
                 _mm512_add_ps, _mm512_setzero_ps(), hsum16, load_bf16)
#undef load16_uint16_t_
#define load16_uint16_t_ load16_f16
DEFINE_GEMV_SIMD(gemv_f16_avx512, CK_AVX512, uint16_t, __m512, 16, load16, _mm512_fmadd_ps,
                 _mm512_add_ps, _mm512_setzero_ps(), hsum16, load_f16)
#undef load16_uint16_t_

// ---- dispatch ----

void ck_gemv(int level, ck_weight_type type, const void *w, size_t k, size_t o0, size_t o1,
             const float *x, size_t ldx, size_t rows, float *y, size_t ldy, int accumulate) {
    int supported = ck_simd_level();
    if (level > supported) level = supported;
    if (o1 <= o0 || rows == 0) return;
    switch (type) {
    case CK_WEIGHT_F32:
        if (level == 2) gemv_f32_avx512(w, k, o0, o1, x, ldx, rows, y, ldy, accumulate);
        else if (level == 1) gemv_f32_avx2(w, k, o0, o1, x, ldx, rows, y, ldy, accumulate);
        else gemv_f32_scalar(w, k, o0, o1, x, ldx, rows, y, ldy, accumulate);
        return;
    case CK_WEIGHT_BF16:
        if (level == 2) gemv_bf16_avx512(w, k, o0, o1, x, ldx, rows, y, ldy, accumulate);
        else if (level == 1) gemv_bf16_avx2(w, k, o0, o1, x, ldx, rows, y, ldy, accumulate);
        else gemv_bf16_scalar(w, k, o0, o1, x, ldx, rows, y, ldy, accumulate);
        return;
    case CK_WEIGHT_F16:
        if (level == 2) gemv_f16_avx512(w, k, o0, o1, x, ldx, rows, y, ldy, accumulate);
        else if (level == 1) gemv_f16_avx2(w, k, o0, o1, x, ldx, rows, y, ldy, accumulate);
        else gemv_f16_scalar(w, k, o0, o1, x, ldx, rows, y, ldy, accumulate);
        return;
    }
}
