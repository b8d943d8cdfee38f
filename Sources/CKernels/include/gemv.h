#ifndef READAPT_CK_GEMV_H
#define READAPT_CK_GEMV_H
#include <stddef.h>
#include <stdint.h>

/// How a weight matrix's elements are stored.
typedef enum {
    CK_WEIGHT_F32 = 0,
    CK_WEIGHT_BF16 = 1,
    CK_WEIGHT_F16 = 2,
} ck_weight_type;

/// Matrix-vector products for a few input rows against a row-major weight W [out × k]:
///
///     y[r·ldy + o] = (accumulate ? y[r·ldy + o] : 0) + Σ_i x[r·ldx + i] · W[o·k + i]
///
/// for 0 ≤ r < rows and o0 ≤ o < o1. Only output rows [o0, o1) are touched, so callers split
/// the work across threads by output-row ranges. Half-precision weights are widened in
/// registers (no repacking). `level` as in convert.h (lowered to what the CPU supports).
void ck_gemv(int level, ck_weight_type type, const void *w, size_t k, size_t o0, size_t o1,
             const float *x, size_t ldx, size_t rows, float *y, size_t ldy, int accumulate);

#endif
