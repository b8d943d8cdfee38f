#ifndef READAPT_CK_LORA_KERNELS_H
#define READAPT_CK_LORA_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/// Inverted dropout with a counter-based mask: out[i] = keep(i) ? x[i]*scale : 0 for i in
/// [start, start+count), where keep(i) is a pure function of (key, i): the 16-bit lane i%4 of
/// splitmix64(key + (i/4)*0x9E3779B97F4A7C15) is >= threshold (threshold = round(p*65536)).
/// Because the mask depends only on (key, i), the backward pass regenerates it exactly, any
/// range can be computed on any thread, and a resumed run replays the same masks.
/// `x` and `out` point at element `start` (they may be the same buffer).
void ck_dropout(const float *x, float *out, size_t start, size_t count, uint64_t key, uint32_t threshold,
                float scale);

#endif
