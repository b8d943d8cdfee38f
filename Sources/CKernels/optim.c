// AdamW's element update. No FMA contraction anywhere: the scalar and AVX2 paths must agree bit
// for bit (and follow torch's rounding order), so each mul/add/div/sqrt is rounded separately.
#pragma STDC FP_CONTRACT OFF
#include "optim.h"
#include "ckernels.h"
#include <math.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_OPTIM_X86 1
#endif

static inline void adamw_one(float *restrict p, const float *restrict g, float *restrict m,
                             float *restrict v, const ck_adamw_scalars *s) {
    float pi = *p * s->decay;
    float gi = *g;
    float mi = *m + s->one_minus_beta1 * (gi - *m);
    float vi = *v * s->beta2 + s->one_minus_beta2 * gi * gi;
    float denom = sqrtf(vi) / s->bias_correction2_sqrt + s->epsilon;
    *m = mi;
    *v = vi;
    *p = pi + s->negative_step_size * mi / denom;
}

void ck_adamw_update_scalar(float *params, const float *grads, float *exp_avg, float *exp_avg_sq, size_t n,
                            const ck_adamw_scalars *s) {
    for (size_t i = 0; i < n; i++) adamw_one(params + i, grads + i, exp_avg + i, exp_avg_sq + i, s);
}

#ifdef CK_OPTIM_X86
__attribute__((target("avx2")))
static void adamw_avx2(float *restrict params, const float *restrict grads, float *restrict exp_avg,
                       float *restrict exp_avg_sq, size_t n, const ck_adamw_scalars *s) {
    const __m256 decay = _mm256_set1_ps(s->decay), b1c = _mm256_set1_ps(s->one_minus_beta1);
    const __m256 b2 = _mm256_set1_ps(s->beta2), b2c = _mm256_set1_ps(s->one_minus_beta2);
    const __m256 bc2 = _mm256_set1_ps(s->bias_correction2_sqrt), eps = _mm256_set1_ps(s->epsilon);
    const __m256 step = _mm256_set1_ps(s->negative_step_size);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 p = _mm256_mul_ps(_mm256_loadu_ps(params + i), decay);
        __m256 g = _mm256_loadu_ps(grads + i);
        __m256 m = _mm256_loadu_ps(exp_avg + i);
        __m256 v = _mm256_loadu_ps(exp_avg_sq + i);
        m = _mm256_add_ps(m, _mm256_mul_ps(b1c, _mm256_sub_ps(g, m)));
        v = _mm256_add_ps(_mm256_mul_ps(v, b2), _mm256_mul_ps(_mm256_mul_ps(b2c, g), g));
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), bc2), eps);
        p = _mm256_add_ps(p, _mm256_div_ps(_mm256_mul_ps(step, m), denom));
        _mm256_storeu_ps(exp_avg + i, m);
        _mm256_storeu_ps(exp_avg_sq + i, v);
        _mm256_storeu_ps(params + i, p);
    }
    ck_adamw_update_scalar(params + i, grads + i, exp_avg + i, exp_avg_sq + i, n - i, s);
}
#endif

void ck_adamw_update(float *params, const float *grads, float *exp_avg, float *exp_avg_sq, size_t n,
                     const ck_adamw_scalars *s) {
#ifdef CK_OPTIM_X86
    if (ck_simd_level() >= 1) { adamw_avx2(params, grads, exp_avg, exp_avg_sq, n, s); return; }
#endif
    ck_adamw_update_scalar(params, grads, exp_avg, exp_avg_sq, n, s);
}
