#ifndef READAPT_CK_HALFCONV_H
#define READAPT_CK_HALFCONV_H
#include <stddef.h>
#include <stdint.h>

// Conversions between IEEE binary16 (F16), bfloat16 (BF16) and binary32, as used by checkpoint
// readers and writers. Sources may be unaligned (tensor data inside a mapped file); all
// conversions are exact or round-to-nearest-even like PyTorch. The plain `_ref` versions are the
// scalar reference every SIMD path is tested against.

/// F16 -> F32, exact (subnormals, infinities, signed zero; NaN payloads kept, quiet bit set).
void ck_st_f16_to_f32(const void *src, float *dst, size_t n);
void ck_st_f16_to_f32_ref(const void *src, float *dst, size_t n);

/// BF16 -> F32, exact (a 16-bit shift; NaN payloads kept bit for bit).
void ck_st_bf16_to_f32(const void *src, float *dst, size_t n);

/// F32 -> F16, round to nearest even; overflow gives infinity; NaN keeps sign and top payload
/// bits and is made quiet (as F16C and so PyTorch do).
void ck_st_f32_to_f16(const float *src, void *dst, size_t n);
void ck_st_f32_to_f16_ref(const float *src, void *dst, size_t n);

/// F32 -> BF16, round to nearest even; every NaN becomes 0xFFFF (what PyTorch's CPU
/// `.to(torch.bfloat16)` writes).
void ck_st_f32_to_bf16(const float *src, void *dst, size_t n);

/// Whether this CPU runs the F16C conversion path (AVX2 + F16C); for tests and reports.
int ck_st_has_f16c(void);

#endif
