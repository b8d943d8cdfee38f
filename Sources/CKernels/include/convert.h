#ifndef READAPT_CK_CONVERT_H
#define READAPT_CK_CONVERT_H
#include <stddef.h>
#include <stdint.h>

/// Bulk conversions between Float32 and the 16-bit float formats, bit-exact with PyTorch:
/// widening is exact; narrowing rounds to nearest, ties to even, and keeps NaN a quiet NaN with
/// its sign and top payload bits (PyTorch's F16 result exactly; PyTorch's own BF16 NaN bits vary
/// between its scalar and vector paths, 0x7fc0 or 0xffff).
/// `level` is the SIMD level to use (0 scalar reference, 1 AVX2+F16C, 2 AVX-512); it is
/// lowered to what this CPU supports, so pass ck_simd_level() unless you are testing.
void ck_convert_f16_to_f32(int level, const uint16_t *src, float *dst, size_t n);
void ck_convert_bf16_to_f32(int level, const uint16_t *src, float *dst, size_t n);
void ck_convert_f32_to_f16(int level, const float *src, uint16_t *dst, size_t n);
void ck_convert_f32_to_bf16(int level, const float *src, uint16_t *dst, size_t n);

/// Scalar single-value conversions (the references the SIMD paths are tested against).
float ck_f16_to_f32(uint16_t h);
float ck_bf16_to_f32(uint16_t b);
uint16_t ck_f32_to_f16(float f);
uint16_t ck_f32_to_bf16(float f);

#endif
