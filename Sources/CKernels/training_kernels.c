// Elementwise kernels of training (see training_kernels.h). The AVX2 versions vectorise the
// transcendental functions with one F32 exp (Cephes-style range reduction and polynomial, ~1-2
// ulp); the scalar references use libm's expf/tanhf, so tests compare the two with a tolerance.
#include "training_kernels.h"
#include "lora_kernels.h"
#include "ckernels.h"
#include <math.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TK_X86 1
#define TK_AVX2 __attribute__((target("avx2,fma")))
#endif

// MARK: scalar references

double tk_logsumexp_scalar(const float *x, size_t n) {
    float m = -INFINITY;
    for (size_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    double s = 0;
    for (size_t j = 0; j < n; j++) s += (double)expf(x[j] - m);
    return (double)m + log(s);
}

void tk_exp_scaled_scalar(const float *x, float *out, size_t n, float shift, float scale) {
    for (size_t j = 0; j < n; j++) out[j] = expf(x[j] - shift) * scale;
}

void tk_softmax_backward_scalar(const float *p, float *dp, size_t n) {
    float dot = 0;
    for (size_t j = 0; j < n; j++) dot += p[j] * dp[j];
    for (size_t j = 0; j < n; j++) dp[j] = p[j] * (dp[j] - dot);
}

static const float gelu_tanh_scale = 0.7978845608028654f;  // sqrt(2/pi)

void tk_gated_backward_scalar(const float *dout, const float *gate, const float *up, float *dgate, float *dup,
                              size_t n, int kind) {
    for (size_t i = 0; i < n; i++) {
        float x = gate[i], f, df;
        if (kind == 0) {
            // d/dx x*sigmoid(x) = s*(1 + x*(1 - s))
            float s = 1.0f / (1.0f + expf(-x));
            f = x * s;
            df = s * (1.0f + x * (1.0f - s));
        } else {
            // d/dx x/2*(1 + tanh u) = (1 + t)/2 + x/2*(1 - t^2)*u', u = c*(x + 0.044715x^3)
            float u = gelu_tanh_scale * (x + 0.044715f * x * x * x);
            float t = tanhf(u);
            float du = gelu_tanh_scale * (1.0f + 3.0f * 0.044715f * x * x);
            f = 0.5f * x * (1.0f + t);
            df = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
        }
        dgate[i] = dout[i] * up[i] * df;
        dup[i] = dout[i] * f;
    }
}

void tk_rmsnorm_forward_scalar(const float *x, const float *w, float *y, float *rstd, size_t rows, size_t n,
                               float eps, int add_one) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float sum = 0;
        for (size_t i = 0; i < n; i++) sum += xr[i] * xr[i];
        float s = 1.0f / sqrtf(sum / (float)n + eps);
        rstd[r] = s;
        for (size_t i = 0; i < n; i++) yr[i] = (xr[i] * s) * (add_one ? 1.0f + w[i] : w[i]);
    }
}

void tk_rmsnorm_backward_scalar(const float *dy, const float *x, const float *rstd, const float *w, float *dx,
                                size_t rows, size_t n, int add_one) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n, *dyr = dy + r * n;
        float *dxr = dx + r * n, s = rstd[r], dot = 0;
        for (size_t i = 0; i < n; i++) dot += dyr[i] * (add_one ? 1.0f + w[i] : w[i]) * xr[i] * s;
        float mean = dot / (float)n;
        for (size_t i = 0; i < n; i++) {
            float g = dyr[i] * (add_one ? 1.0f + w[i] : w[i]);
            dxr[i] += s * (g - xr[i] * s * mean);
        }
    }
}

static const uint64_t tk_golden = 0x9E3779B97F4A7C15ULL;

// MARK: AVX2

#ifdef TK_X86
// exp(x) in F32: x = n*ln2 + r with |r| <= ln2/2 (ln2 split in two so n*ln2 is exact), exp(r) by a
// degree-6 polynomial, 2^n built in the exponent bits. Inputs are clamped to [-87.3, 88.3] (the
// normal range), so very negative arguments give ~1e-38 rather than 0 — harmless in sums and
// probabilities, which is all this is used for.
TK_AVX2 static inline __m256 tk_exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

// Low 64 bits of a * c in each 64-bit lane (AVX2 has only 32x32->64 multiplies):
// lo(a)lo(c) + ((hi(a)lo(c) + lo(a)hi(c)) << 32).
TK_AVX2 static inline __m256i tk_mul64(__m256i a, __m256i c) {
    __m256i lolo = _mm256_mul_epu32(a, c);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), c),
                                     _mm256_mul_epu32(a, _mm256_srli_epi64(c, 32)));
    return _mm256_add_epi64(lolo, _mm256_slli_epi64(cross, 32));
}

TK_AVX2 static inline __m256i tk_mix64x4(__m256i z) {
    z = tk_mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), _mm256_set1_epi64x((long long)0xBF58476D1CE4E5B9ULL));
    z = tk_mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), _mm256_set1_epi64x((long long)0x94D049BB133111EBULL));
    return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

TK_AVX2 static void dropout_avx2(const float *x, float *out, size_t start, size_t count, uint64_t key,
                                 uint32_t threshold, float scale) {
    size_t i = start, end = start + count;
    // Scalar up to a group boundary (i % 4 == 0), then 16 elements = 4 groups = 4 hashes per step:
    // the 4 64-bit hashes laid out in a register are exactly the 16 16-bit draws in element order.
    size_t head = (4 - i % 4) % 4;
    if (head > count) head = count;
    ck_dropout(x, out, i, head, key, threshold, scale);
    i += head;
    const __m256i golden = _mm256_set1_epi64x((long long)tk_golden);
    const __m256i thresholdMinus1 = _mm256_set1_epi32((int)threshold - 1);
    const __m256 vs = _mm256_set1_ps(scale);
    for (; i + 16 <= end; i += 16) {
        uint64_t g = i / 4 + 1;
        __m256i counters = _mm256_set_epi64x((long long)(g + 3), (long long)(g + 2), (long long)(g + 1), (long long)g);
        __m256i z = _mm256_add_epi64(_mm256_set1_epi64x((long long)key), tk_mul64(counters, golden));
        __m256i draws = tk_mix64x4(z);
        // draw >= threshold as a signed 32-bit compare (draws < 65536, threshold <= 65536).
        __m256i lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(draws));
        __m256i hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(draws, 1));
        __m256 keepLo = _mm256_castsi256_ps(_mm256_cmpgt_epi32(lo, thresholdMinus1));
        __m256 keepHi = _mm256_castsi256_ps(_mm256_cmpgt_epi32(hi, thresholdMinus1));
        size_t o = i - start;
        _mm256_storeu_ps(out + o, _mm256_and_ps(keepLo, _mm256_mul_ps(_mm256_loadu_ps(x + o), vs)));
        _mm256_storeu_ps(out + o + 8, _mm256_and_ps(keepHi, _mm256_mul_ps(_mm256_loadu_ps(x + o + 8), vs)));
    }
    ck_dropout(x + (i - start), out + (i - start), i, end - i, key, threshold, scale);
}

TK_AVX2 static inline float tk_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TK_AVX2 static inline float tk_hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TK_AVX2 static double logsumexp_avx2(const float *x, size_t n) {
    __m256 vm = _mm256_set1_ps(-INFINITY);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + j));
    float m = tk_hmax8(vm);
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    // Each 8-lane exp is added to two double accumulators, so the sum of 49152 terms keeps full
    // precision (the loss must match PyTorch within 1e-5).
    const __m256 shift = _mm256_set1_ps(m);
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (j = 0; j + 8 <= n; j += 8) {
        __m256 e = tk_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), shift));
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double parts[4];
    _mm256_storeu_pd(parts, _mm256_add_pd(lo, hi));
    double s = (parts[0] + parts[1]) + (parts[2] + parts[3]);
    for (; j < n; j++) s += (double)expf(x[j] - m);
    return (double)m + log(s);
}

TK_AVX2 static void exp_scaled_avx2(const float *x, float *out, size_t n, float shift, float scale) {
    const __m256 vs = _mm256_set1_ps(shift), vc = _mm256_set1_ps(scale);
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(out + j, _mm256_mul_ps(tk_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), vs)), vc));
    for (; j < n; j++) out[j] = expf(x[j] - shift) * scale;
}

TK_AVX2 static void softmax_backward_avx2(const float *p, float *dp, size_t n) {
    __m256 acc = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + j), _mm256_loadu_ps(dp + j), acc);
    float dot = tk_hsum8(acc);
    for (; j < n; j++) dot += p[j] * dp[j];
    const __m256 vd = _mm256_set1_ps(dot);
    for (j = 0; j + 8 <= n; j += 8)
        _mm256_storeu_ps(dp + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), _mm256_sub_ps(_mm256_loadu_ps(dp + j), vd)));
    for (; j < n; j++) dp[j] = p[j] * (dp[j] - dot);
}

TK_AVX2 static void gated_backward_avx2(const float *dout, const float *gate, const float *up, float *dgate,
                                        float *dup, size_t n, int kind) {
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f), two = _mm256_set1_ps(2.0f);
    const __m256 c = _mm256_set1_ps(gelu_tanh_scale), k = _mm256_set1_ps(0.044715f);
    const __m256 k3 = _mm256_set1_ps(3.0f * 0.044715f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(gate + i), f, df;
        if (kind == 0) {
            __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, tk_exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
            f = _mm256_mul_ps(x, s);
            df = _mm256_mul_ps(s, _mm256_fmadd_ps(x, _mm256_sub_ps(one, s), one));
        } else {
            __m256 x2 = _mm256_mul_ps(x, x);
            __m256 u = _mm256_mul_ps(c, _mm256_fmadd_ps(_mm256_mul_ps(k, x2), x, x));
            // tanh(u) = 1 - 2/(exp(2u) + 1), exact at both saturations.
            __m256 t = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(tk_exp8(_mm256_mul_ps(two, u)), one)));
            __m256 du = _mm256_mul_ps(c, _mm256_fmadd_ps(k3, x2, one));
            __m256 onePlusT = _mm256_add_ps(one, t);
            f = _mm256_mul_ps(_mm256_mul_ps(half, x), onePlusT);
            __m256 sech2 = _mm256_fnmadd_ps(t, t, one);
            df = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(half, x), sech2), du, _mm256_mul_ps(half, onePlusT));
        }
        __m256 d = _mm256_loadu_ps(dout + i);
        _mm256_storeu_ps(dgate + i, _mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(up + i)), df));
        _mm256_storeu_ps(dup + i, _mm256_mul_ps(d, f));
    }
    tk_gated_backward_scalar(dout + i, gate + i, up + i, dgate + i, dup + i, n - i, kind);
}

TK_AVX2 static void rmsnorm_forward_avx2(const float *x, const float *w, float *y, float *rstd, size_t rows,
                                         size_t n, float eps, int add_one) {
    const __m256 one = _mm256_set1_ps(add_one ? 1.0f : 0.0f);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        __m256 acc = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 8 <= n; i += 8) { __m256 v = _mm256_loadu_ps(xr + i); acc = _mm256_fmadd_ps(v, v, acc); }
        float sum = tk_hsum8(acc);
        for (; i < n; i++) sum += xr[i] * xr[i];
        float s = 1.0f / sqrtf(sum / (float)n + eps);
        rstd[r] = s;
        const __m256 vs = _mm256_set1_ps(s);
        for (i = 0; i + 8 <= n; i += 8) {
            __m256 wv = _mm256_add_ps(_mm256_loadu_ps(w + i), one);
            _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + i), vs), wv));
        }
        for (; i < n; i++) yr[i] = (xr[i] * s) * (add_one ? 1.0f + w[i] : w[i]);
    }
}

TK_AVX2 static void rmsnorm_backward_avx2(const float *dy, const float *x, const float *rstd, const float *w,
                                          float *dx, size_t rows, size_t n, int add_one) {
    const __m256 one = _mm256_set1_ps(add_one ? 1.0f : 0.0f);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n, *dyr = dy + r * n;
        float *dxr = dx + r * n, s = rstd[r];
        __m256 acc = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dyr + i), _mm256_add_ps(_mm256_loadu_ps(w + i), one));
            acc = _mm256_fmadd_ps(g, _mm256_loadu_ps(xr + i), acc);
        }
        float dot = tk_hsum8(acc);
        for (; i < n; i++) dot += dyr[i] * (add_one ? 1.0f + w[i] : w[i]) * xr[i];
        float mean = dot * s / (float)n;
        const __m256 vs = _mm256_set1_ps(s), vsm = _mm256_set1_ps(s * mean);
        for (i = 0; i + 8 <= n; i += 8) {
            __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dyr + i), _mm256_add_ps(_mm256_loadu_ps(w + i), one));
            __m256 inner = _mm256_fnmadd_ps(_mm256_loadu_ps(xr + i), vsm, g);  // g - x*s*mean
            _mm256_storeu_ps(dxr + i, _mm256_fmadd_ps(vs, inner, _mm256_loadu_ps(dxr + i)));
        }
        for (; i < n; i++) {
            float g = dyr[i] * (add_one ? 1.0f + w[i] : w[i]);
            dxr[i] += s * (g - xr[i] * s * mean);
        }
    }
}
#endif

// MARK: dispatch

#ifdef TK_X86
#define TK_USE_AVX2 (ck_simd_level() >= 1)
#else
#define TK_USE_AVX2 0
#define logsumexp_avx2 tk_logsumexp_scalar
#define exp_scaled_avx2 tk_exp_scaled_scalar
#define softmax_backward_avx2 tk_softmax_backward_scalar
#define gated_backward_avx2 tk_gated_backward_scalar
#define rmsnorm_forward_avx2 tk_rmsnorm_forward_scalar
#define rmsnorm_backward_avx2 tk_rmsnorm_backward_scalar
#define dropout_avx2 ck_dropout
#endif

void tk_dropout(const float *x, float *out, size_t start, size_t count, uint64_t key, uint32_t threshold,
                float scale) {
    if (TK_USE_AVX2) dropout_avx2(x, out, start, count, key, threshold, scale);
    else ck_dropout(x, out, start, count, key, threshold, scale);
}

double tk_logsumexp(const float *x, size_t n) {
    return TK_USE_AVX2 ? logsumexp_avx2(x, n) : tk_logsumexp_scalar(x, n);
}

void tk_exp_scaled(const float *x, float *out, size_t n, float shift, float scale) {
    if (TK_USE_AVX2) exp_scaled_avx2(x, out, n, shift, scale); else tk_exp_scaled_scalar(x, out, n, shift, scale);
}

void tk_softmax_backward(const float *p, float *dp, size_t n) {
    if (TK_USE_AVX2) softmax_backward_avx2(p, dp, n); else tk_softmax_backward_scalar(p, dp, n);
}

void tk_gated_backward(const float *dout, const float *gate, const float *up, float *dgate, float *dup,
                       size_t n, int kind) {
    if (TK_USE_AVX2) gated_backward_avx2(dout, gate, up, dgate, dup, n, kind);
    else tk_gated_backward_scalar(dout, gate, up, dgate, dup, n, kind);
}

void tk_rmsnorm_forward(const float *x, const float *w, float *y, float *rstd, size_t rows, size_t n,
                        float eps, int add_one) {
    if (TK_USE_AVX2) rmsnorm_forward_avx2(x, w, y, rstd, rows, n, eps, add_one);
    else tk_rmsnorm_forward_scalar(x, w, y, rstd, rows, n, eps, add_one);
}

void tk_rmsnorm_backward(const float *dy, const float *x, const float *rstd, const float *w, float *dx,
                         size_t rows, size_t n, int add_one) {
    if (TK_USE_AVX2) rmsnorm_backward_avx2(dy, x, rstd, w, dx, rows, n, add_one);
    else tk_rmsnorm_backward_scalar(dy, x, rstd, w, dx, rows, n, add_one);
}
