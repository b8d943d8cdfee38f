#ifndef READAPT_TRAINING_KERNELS_H
#define READAPT_TRAINING_KERNELS_H
#include <stddef.h>
#include <stdint.h>

// Elementwise kernels of the training forward/backward (TrainingOps.swift). Each `tk_x`
// dispatches on ck_simd_level() to an AVX2+FMA version (AVX-512 machines use it too); `tk_x_scalar`
// is the plain reference the tests compare against. F32 arrays; no overlap unless stated.

/// log(sum_j exp(x[j])) over n values: max-subtracted, exp in F32, the sum accumulated in double.
double tk_logsumexp(const float *x, size_t n);
double tk_logsumexp_scalar(const float *x, size_t n);

/// out[j] = exp(x[j] - shift) * scale for j < n. out may equal x (in place).
void tk_exp_scaled(const float *x, float *out, size_t n, float shift, float scale);
void tk_exp_scaled_scalar(const float *x, float *out, size_t n, float shift, float scale);

/// Softmax backward of one row: dot = sum_j p[j]*dp[j]; dp[j] = p[j] * (dp[j] - dot).
void tk_softmax_backward(const float *p, float *dp, size_t n);
void tk_softmax_backward_scalar(const float *p, float *dp, size_t n);

/// Gated activation backward (out = f(gate)*up): dgate = dout*up*f'(gate), dup = dout*f(gate).
/// kind 0: SiLU, 1: GELU-tanh (PyTorch's approximate='tanh').
void tk_gated_backward(const float *dout, const float *gate, const float *up, float *dgate, float *dup,
                       size_t n, int kind);
void tk_gated_backward_scalar(const float *dout, const float *gate, const float *up, float *dgate, float *dup,
                              size_t n, int kind);

/// RMSNorm forward of `rows` rows of n: rstd[r] = 1/sqrt(mean(x^2) + eps); y = x*rstd*(w or 1 + w).
void tk_rmsnorm_forward(const float *x, const float *w, float *y, float *rstd, size_t rows, size_t n,
                        float eps, int add_one);
void tk_rmsnorm_forward_scalar(const float *x, const float *w, float *y, float *rstd, size_t rows, size_t n,
                               float eps, int add_one);

/// RMSNorm input gradient, ACCUMULATED: with xh = x*rstd and g = dy*w', dx += rstd*(g - xh*mean(g*xh)).
void tk_rmsnorm_backward(const float *dy, const float *x, const float *rstd, const float *w, float *dx,
                         size_t rows, size_t n, int add_one);
void tk_rmsnorm_backward_scalar(const float *dy, const float *x, const float *rstd, const float *w, float *dx,
                                size_t rows, size_t n, int add_one);

/// LoRA input dropout, bit-identical to `ck_dropout` (lora_kernels.h: element i of the whole
/// tensor uses 16-bit draw i % 4 of SplitMix64's finaliser of key + (i/4 + 1)·golden; kept when
/// draw >= threshold, scaled by `scale`), with the 64-bit hash vectorised 4 lanes at a time on
/// AVX2. out may equal x.
void tk_dropout(const float *x, float *out, size_t start, size_t count, uint64_t key, uint32_t threshold,
                float scale);


#endif
