// oneDNN as packaged by Debian runs its GEMM on OpenMP. On 2 cores, a parallel region on a
// tiny product costs more than it saves, and when the other core is busy the closing barrier
// waits for a whole scheduler time slice (milliseconds). GEMM.swift therefore picks a thread
// count per call; the OpenMP entry points are found with dlsym so no OpenMP flags or libraries
// are needed at build time.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include "blas_threads.h"

typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);

static set_threads_fn set_fn(void) {
    static set_threads_fn fn;
    static int looked;
    if (!looked) { fn = (set_threads_fn)dlsym(RTLD_DEFAULT, "omp_set_num_threads"); looked = 1; }
    return fn;
}

int ck_blas_set_threads(int threads) {
    set_threads_fn fn = set_fn();
    if (!fn || threads < 1) return 0;
    fn(threads);
    return 1;
}

int ck_blas_max_threads(void) {
    static get_threads_fn fn;
    static int looked;
    if (!looked) { fn = (get_threads_fn)dlsym(RTLD_DEFAULT, "omp_get_max_threads"); looked = 1; }
    return fn ? fn() : 0;
}
