#ifndef READAPT_CKERNELS_H
#define READAPT_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

/// Which SIMD level the kernels dispatch to on this CPU: 0 scalar, 1 AVX2+FMA+F16C, 2 AVX-512.
int ck_simd_level(void);

#endif
