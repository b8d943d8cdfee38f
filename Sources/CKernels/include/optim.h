#ifndef READAPT_CK_OPTIM_H
#define READAPT_CK_OPTIM_H
#include <stddef.h>

/// The per-step scalars of one AdamW update (computed in double by the caller, rounded to float).
typedef struct {
    float decay;               // 1 - lr*weight_decay (1: no decay)
    float one_minus_beta1;
    float beta2;
    float one_minus_beta2;
    float bias_correction2_sqrt;
    float epsilon;
    float negative_step_size;  // -lr / (1 - beta1^t)
} ck_adamw_scalars;

/// torch.optim.AdamW's element update on n values, in torch's operation order with no fused
/// multiply-adds, so every SIMD level gives bit-identical results:
///   p *= decay; m += (1-b1)*(g - m); v = v*b2 + ((1-b2)*g)*g;
///   p += (-step*m) / (sqrt(v)/bc2 + eps)
/// Dispatches on ck_simd_level(); `ck_adamw_update_scalar` is the plain reference.
void ck_adamw_update(float *params, const float *grads, float *exp_avg, float *exp_avg_sq, size_t n,
                     const ck_adamw_scalars *s);
void ck_adamw_update_scalar(float *params, const float *grads, float *exp_avg, float *exp_avg_sq, size_t n,
                            const ck_adamw_scalars *s);

#endif
