#ifndef READAPT_CK_BLAS_THREADS_H
#define READAPT_CK_BLAS_THREADS_H

/// Sets how many OpenMP threads the next BLAS (oneDNN) calls from this thread may use, if the
/// process has an OpenMP runtime loaded (looked up at run time, so nothing extra is linked).
/// Returns 1 when the setting was applied, 0 when there is no OpenMP runtime.
int ck_blas_set_threads(int threads);

/// The OpenMP runtime's maximum thread count, or 0 when there is no OpenMP runtime.
int ck_blas_max_threads(void);

/// Work for `ck_team_run`: called once per thread with that thread's index and the team size.
typedef void (*ck_team_body)(void *context, int index, int count);

/// Calls `body` on `threads` threads of the OpenMP runtime's team (the BLAS's own threads) and
/// returns when all are done; returns 0 after calling body(context, 0, 1) on this thread alone
/// when `threads` <= 1 or there is no OpenMP runtime.
int ck_team_run(int threads, ck_team_body body, void *context);

#endif
