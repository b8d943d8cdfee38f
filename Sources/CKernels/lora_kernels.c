#include "lora_kernels.h"

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void ck_dropout(const float *x, float *out, size_t start, size_t count, uint64_t key, uint32_t threshold,
                float scale) {
    size_t i = start, end = start + count;
    while (i < end) {
        uint64_t bits = mix64(key + (uint64_t)(i / 4 + 1) * 0x9E3779B97F4A7C15ULL);
        size_t lane = i % 4;
        for (; lane < 4 && i < end; lane++, i++) {
            uint32_t r = (uint32_t)(bits >> (16 * lane)) & 0xFFFFu;
            out[i - start] = r >= threshold ? x[i - start] * scale : 0.0f;
        }
    }
}
