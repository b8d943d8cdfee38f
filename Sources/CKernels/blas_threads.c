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

// Running our own row-parallel passes (norms, activations, softmax, widening) on the BLAS's OpenMP
// team rather than on GCD: its worker is still spinning from the previous product, so it starts
// at once, and no third thread competes for the two cores (BENCHMARKS.md, "Prefill threading").
// GOMP_parallel is libgomp's stable entry point for `#pragma omp parallel` (GCC >= 4.9).
typedef void (*gomp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);
typedef int (*thread_num_fn)(void);

struct team_job { ck_team_body body; void *context; thread_num_fn num, count; };

static void team_trampoline(void *data) {
    struct team_job *job = data;
    job->body(job->context, job->num(), job->count());
}

int ck_team_run(int threads, ck_team_body body, void *context) {
    static gomp_parallel_fn parallel;
    static thread_num_fn num, count;
    static int looked;
    if (!looked) {
        parallel = (gomp_parallel_fn)dlsym(RTLD_DEFAULT, "GOMP_parallel");
        num = (thread_num_fn)dlsym(RTLD_DEFAULT, "omp_get_thread_num");
        count = (thread_num_fn)dlsym(RTLD_DEFAULT, "omp_get_num_threads");
        looked = 1;
    }
    if (threads <= 1 || !parallel || !num || !count) {
        body(context, 0, 1);
        return 0;
    }
    struct team_job job = { body, context, num, count };
    parallel(team_trampoline, &job, (unsigned)threads, 0);
    return 1;
}
