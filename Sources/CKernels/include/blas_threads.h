#ifndef READAPT_CK_BLAS_THREADS_H
#define READAPT_CK_BLAS_THREADS_H

/// Sets how many OpenMP threads the next BLAS (oneDNN) calls from this thread may use, if the
/// process has an OpenMP runtime loaded (looked up at run time, so nothing extra is linked).
/// Returns 1 when the setting was applied, 0 when there is no OpenMP runtime.
int ck_blas_set_threads(int threads);

/// The OpenMP runtime's maximum thread count, or 0 when there is no OpenMP runtime.
int ck_blas_max_threads(void);

#endif
