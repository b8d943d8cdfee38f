#ifndef READAPT_CK_CONVERT_H
#define READAPT_CK_CONVERT_H
#include <stddef.h>
#include <stdint.h>

/// The one set of bulk conversions between Float32 and the 16-bit float formats, bit-exact with
/// PyTorch's CPU `tensor.to(dtype)` on contiguous tensors:
///   - widening (F16/BF16 -> F32) is exact; F16 NaNs keep sign and payload and become quiet
///     (what F16C's vcvtph2ps does), BF16 NaNs keep every bit (a 16-bit shift);
///   - narrowing rounds to nearest, ties to even; F32 -> F16 overflow gives infinity and NaN
///     keeps sign and top payload bits, made quiet (vcvtps2ph);
///   - F32 -> BF16 writes every NaN as 0xFFFF, whatever its sign or payload. That is what
///     PyTorch's vectorised (AVX2/AVX-512) CPU kernels write, so what checkpoints saved by
///     torch on x86 contain. (Only torch's non-vector paths -- 0-d or strided tensors, or
///     ATEN_CPU_CAPABILITY=default -- write 0x7FC0 instead.)
/// The 16-bit side is a raw pointer and may be unaligned (tensor data inside a mapped file).
/// `level` is the SIMD level to use (0 scalar reference, 1 AVX2+F16C, 2 AVX-512); it is
/// lowered to what this CPU supports, so pass ck_simd_level() unless you are testing.
void ck_convert_f16_to_f32(int level, const void *src, float *dst, size_t n);
void ck_convert_bf16_to_f32(int level, const void *src, float *dst, size_t n);
void ck_convert_f32_to_f16(int level, const float *src, void *dst, size_t n);
void ck_convert_f32_to_bf16(int level, const float *src, void *dst, size_t n);

/// Scalar single-value conversions (the references the SIMD paths are tested against).
float ck_f16_to_f32(uint16_t h);
float ck_bf16_to_f32(uint16_t b);
uint16_t ck_f32_to_f16(float f);
uint16_t ck_f32_to_bf16(float f);

#endif
