// Elementwise kernels of the Llama-family forward pass: scalar references and AVX2+FMA versions
// compiled per function with target attributes (no global -mavx2), chosen at run time.
#include "model_kernels.h"
#include "ckernels.h"
#include <math.h>

// ---------------------------------------------------------------- scalar references

void mk_rmsnorm_scalar(const float *x, size_t x_stride, const float *w, float *out, size_t out_stride,
                       size_t rows, size_t n, float eps, int add_one) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * x_stride;
        float *yr = out + r * out_stride;
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float inv = 1.0f / sqrtf((float)(ss / (double)n) + eps);
        for (size_t i = 0; i < n; i++) {
            float scale = add_one ? 1.0f + w[i] : w[i];
            yr[i] = (xr[i] * inv) * scale;
        }
    }
}

void mk_rope_scalar(float *x, size_t heads, size_t head_dim, const float *cos, const float *sin) {
    size_t half = head_dim / 2;
    for (size_t h = 0; h < heads; h++) {
        float *v = x + h * head_dim;
        for (size_t i = 0; i < half; i++) {
            float x1 = v[i], x2 = v[i + half];
            v[i] = x1 * cos[i] - x2 * sin[i];
            v[i + half] = x2 * cos[i] + x1 * sin[i];
        }
    }
}

void mk_softmax_scalar(float *x, size_t n) {
    if (n == 0) return;
    float max = x[0];
    for (size_t i = 1; i < n; i++) if (x[i] > max) max = x[i];
    double sum = 0;
    for (size_t i = 0; i < n; i++) { x[i] = expf(x[i] - max); sum += x[i]; }
    float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++) x[i] *= inv;
}

void mk_silu_mul_scalar(const float *gate, const float *up, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void mk_gelu_tanh_mul_scalar(const float *gate, const float *up, float *out, size_t n) {
    const float k = 0.7978845608028654f; // sqrt(2/pi)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = 0.5f * g * (1.0f + tanhf(k * (g + 0.044715f * g * g * g))) * up[i];
    }
}

void mk_gelu_mul(const float *gate, const float *up, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = 0.5f * gate[i] * (1.0f + erff(gate[i] * 0.70710678118654752f)) * up[i];
}

void mk_add_scalar(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void mk_attend_scalar(const float *q, const float *keys, const float *values, size_t n, size_t head_dim,
                      float scale, float *scores, float *out) {
    for (size_t j = 0; j < n; j++) {
        const float *k = keys + j * head_dim;
        float dot = 0;
        for (size_t d = 0; d < head_dim; d++) dot += q[d] * k[d];
        scores[j] = dot * scale;
    }
    mk_softmax_scalar(scores, n);
    for (size_t d = 0; d < head_dim; d++) out[d] = 0;
    for (size_t j = 0; j < n; j++) {
        const float *v = values + j * head_dim;
        for (size_t d = 0; d < head_dim; d++) out[d] += scores[j] * v[d];
    }
}

// ---------------------------------------------------------------- AVX2 + FMA

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static inline float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// exp(x) to about 2 ulp (Cephes' expf: range reduction by ln2 in two parts, degree-6 polynomial).
AVX2 static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3365f)), _mm256_set1_ps(88.3762626647949f));
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

AVX2 static void rmsnorm_avx2(const float *x, size_t x_stride, const float *w, float *out, size_t out_stride,
                              size_t rows, size_t n, float eps, int add_one) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * x_stride;
        float *yr = out + r * out_stride;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 16 <= n; i += 16) {
            __m256 a = _mm256_loadu_ps(xr + i), b = _mm256_loadu_ps(xr + i + 8);
            acc0 = _mm256_fmadd_ps(a, a, acc0);
            acc1 = _mm256_fmadd_ps(b, b, acc1);
        }
        float ss = hsum8(_mm256_add_ps(acc0, acc1));
        for (; i < n; i++) ss += xr[i] * xr[i];
        float inv = 1.0f / sqrtf(ss / (float)n + eps);
        __m256 vinv = _mm256_set1_ps(inv), one = _mm256_set1_ps(add_one ? 1.0f : 0.0f);
        for (i = 0; i + 8 <= n; i += 8) {
            __m256 scale = _mm256_add_ps(_mm256_loadu_ps(w + i), one);
            _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + i), vinv), scale));
        }
        for (; i < n; i++) yr[i] = (xr[i] * inv) * (add_one ? 1.0f + w[i] : w[i]);
    }
}

AVX2 static void rope_avx2(float *x, size_t heads, size_t head_dim, const float *cos, const float *sin) {
    size_t half = head_dim / 2;
    for (size_t h = 0; h < heads; h++) {
        float *v = x + h * head_dim;
        size_t i = 0;
        for (; i + 8 <= half; i += 8) {
            __m256 x1 = _mm256_loadu_ps(v + i), x2 = _mm256_loadu_ps(v + i + half);
            __m256 c = _mm256_loadu_ps(cos + i), s = _mm256_loadu_ps(sin + i);
            _mm256_storeu_ps(v + i, _mm256_fmsub_ps(x1, c, _mm256_mul_ps(x2, s)));
            _mm256_storeu_ps(v + i + half, _mm256_fmadd_ps(x2, c, _mm256_mul_ps(x1, s)));
        }
        for (; i < half; i++) {
            float x1 = v[i], x2 = v[i + half];
            v[i] = x1 * cos[i] - x2 * sin[i];
            v[i + half] = x2 * cos[i] + x1 * sin[i];
        }
    }
}

AVX2 static void softmax_avx2(float *x, size_t n) {
    if (n == 0) return;
    size_t i = 0;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
    float max = hmax8(vmax);
    for (; i < n; i++) if (x[i] > max) max = x[i];
    __m256 vm = _mm256_set1_ps(max), acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = hsum8(acc);
    for (; i < n; i++) { x[i] = expf(x[i] - max); sum += x[i]; }
    __m256 vinv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
    for (; i < n; i++) x[i] *= 1.0f / sum;
}

AVX2 static void silu_mul_avx2(const float *gate, const float *up, float *out, size_t n) {
    size_t i = 0;
    __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
        __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    mk_silu_mul_scalar(gate + i, up + i, out + i, n - i);
}

AVX2 static void gelu_tanh_mul_avx2(const float *gate, const float *up, float *out, size_t n) {
    size_t i = 0;
    const __m256 k = _mm256_set1_ps(0.7978845608028654f), c = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), half = _mm256_set1_ps(0.5f);
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 inner = _mm256_mul_ps(k, _mm256_fmadd_ps(_mm256_mul_ps(c, g), _mm256_mul_ps(g, g), g));
        // tanh(y) = 1 - 2 / (exp(2y) + 1), exact at both saturations.
        __m256 t = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(exp8(_mm256_mul_ps(two, inner)), one)));
        __m256 y = _mm256_mul_ps(_mm256_mul_ps(half, g), _mm256_add_ps(one, t));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(y, _mm256_loadu_ps(up + i)));
    }
    mk_gelu_tanh_mul_scalar(gate + i, up + i, out + i, n - i);
}

AVX2 static void add_avx2(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] += x[i];
}

AVX2 static void attend_avx2(const float *q, const float *keys, const float *values, size_t n, size_t head_dim,
                             float scale, float *scores, float *out) {
    if (head_dim % 8 != 0 || head_dim > 256) {
        mk_attend_scalar(q, keys, values, n, head_dim, scale, scores, out);
        return;
    }
    // Scores four keys at a time: four independent FMA chains share each load of q.
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *k0 = keys + j * head_dim, *k1 = k0 + head_dim, *k2 = k1 + head_dim, *k3 = k2 + head_dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (size_t d = 0; d < head_dim; d += 8) {
            __m256 qv = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + d), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + d), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + d), a3);
        }
        scores[j] = hsum8(a0) * scale;
        scores[j + 1] = hsum8(a1) * scale;
        scores[j + 2] = hsum8(a2) * scale;
        scores[j + 3] = hsum8(a3) * scale;
    }
    for (; j < n; j++) {
        const float *k = keys + j * head_dim;
        __m256 acc = _mm256_setzero_ps();
        for (size_t d = 0; d < head_dim; d += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), acc);
        scores[j] = hsum8(acc) * scale;
    }
    softmax_avx2(scores, n);
    // out = Σ p_j v_j with one accumulator per 8 output lanes (independent chains across j).
    __m256 acc[32];
    size_t chunks = head_dim / 8;
    for (size_t c = 0; c < chunks; c++) acc[c] = _mm256_setzero_ps();
    for (j = 0; j < n; j++) {
        __m256 p = _mm256_set1_ps(scores[j]);
        const float *v = values + j * head_dim;
        for (size_t c = 0; c < chunks; c++) acc[c] = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 8 * c), acc[c]);
    }
    for (size_t c = 0; c < chunks; c++) _mm256_storeu_ps(out + 8 * c, acc[c]);
}
#define HAVE_AVX2_KERNELS 1
#endif

// ---------------------------------------------------------------- dispatch

#ifdef HAVE_AVX2_KERNELS
#define DISPATCH(fast, slow, ...) do { if (ck_simd_level() >= 1) fast(__VA_ARGS__); else slow(__VA_ARGS__); } while (0)
#else
#define DISPATCH(fast, slow, ...) slow(__VA_ARGS__)
#endif

void mk_rmsnorm(const float *x, size_t x_stride, const float *w, float *out, size_t out_stride,
                size_t rows, size_t n, float eps, int add_one) {
    DISPATCH(rmsnorm_avx2, mk_rmsnorm_scalar, x, x_stride, w, out, out_stride, rows, n, eps, add_one);
}
void mk_rope(float *x, size_t heads, size_t head_dim, const float *cos, const float *sin) {
    DISPATCH(rope_avx2, mk_rope_scalar, x, heads, head_dim, cos, sin);
}
void mk_softmax(float *x, size_t n) { DISPATCH(softmax_avx2, mk_softmax_scalar, x, n); }
void mk_silu_mul(const float *gate, const float *up, float *out, size_t n) {
    DISPATCH(silu_mul_avx2, mk_silu_mul_scalar, gate, up, out, n);
}
void mk_gelu_tanh_mul(const float *gate, const float *up, float *out, size_t n) {
    DISPATCH(gelu_tanh_mul_avx2, mk_gelu_tanh_mul_scalar, gate, up, out, n);
}
void mk_add(float *y, const float *x, size_t n) { DISPATCH(add_avx2, mk_add_scalar, y, x, n); }
void mk_attend(const float *q, const float *keys, const float *values, size_t n, size_t head_dim,
               float scale, float *scores, float *out) {
    DISPATCH(attend_avx2, mk_attend_scalar, q, keys, values, n, head_dim, scale, scores, out);
}
