#ifndef READAPT_MODEL_KERNELS_H
#define READAPT_MODEL_KERNELS_H
#include <stddef.h>

// Elementwise kernels of the Llama-family forward pass. Each `mk_x` dispatches on ck_simd_level()
// to an AVX2+FMA version (AVX-512 machines use it too); `mk_x_scalar` is the plain reference the
// tests compare against. All arrays are F32 and must not overlap unless stated.

/// out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * (w or 1 + w), for `rows` rows of length n.
/// x and out rows are contiguous with the given strides; out may equal x.
void mk_rmsnorm(const float *x, size_t x_stride, const float *w, float *out, size_t out_stride,
                size_t rows, size_t n, float eps, int add_one);
void mk_rmsnorm_scalar(const float *x, size_t x_stride, const float *w, float *out, size_t out_stride,
                       size_t rows, size_t n, float eps, int add_one);

/// Rotates `heads` consecutive heads of length head_dim in place (Hugging Face rotate_half layout):
/// x1 = x[i], x2 = x[i + half]; x[i] = x1*cos[i] - x2*sin[i]; x[i + half] = x2*cos[i] + x1*sin[i].
/// cos and sin hold head_dim/2 values for this position.
void mk_rope(float *x, size_t heads, size_t head_dim, const float *cos, const float *sin);
void mk_rope_scalar(float *x, size_t heads, size_t head_dim, const float *cos, const float *sin);

/// In-place softmax of n values (max-subtracted, F32).
void mk_softmax(float *x, size_t n);
void mk_softmax_scalar(float *x, size_t n);

/// out[i] = silu(gate[i]) * up[i] for i < n. out may equal gate or up.
void mk_silu_mul(const float *gate, const float *up, float *out, size_t n);
void mk_silu_mul_scalar(const float *gate, const float *up, float *out, size_t n);

/// out[i] = gelu_tanh(gate[i]) * up[i] (PyTorch's approximate='tanh'). out may equal gate or up.
void mk_gelu_tanh_mul(const float *gate, const float *up, float *out, size_t n);
void mk_gelu_tanh_mul_scalar(const float *gate, const float *up, float *out, size_t n);

/// out[i] = gelu_erf(gate[i]) * up[i] (exact GELU; scalar only, it is rare).
void mk_gelu_mul(const float *gate, const float *up, float *out, size_t n);

/// y[i] += x[i] for i < n.
void mk_add(float *y, const float *x, size_t n);
void mk_add_scalar(float *y, const float *x, size_t n);

/// One query attending to n cached positions of one head: scores[j] = scale * q·k_j (k_j = keys +
/// j*head_dim), softmax, out = sum_j p_j v_j. `scores` is scratch of n floats.
void mk_attend(const float *q, const float *keys, const float *values, size_t n, size_t head_dim,
               float scale, float *scores, float *out);
void mk_attend_scalar(const float *q, const float *keys, const float *values, size_t n, size_t head_dim,
                      float scale, float *scores, float *out);

#endif
