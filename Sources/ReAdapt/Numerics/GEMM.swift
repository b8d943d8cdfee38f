import CDNNL
import CKernels
import Foundation

/// Single-precision matrix products. Every dense product in ReAdapt goes through here, so the
/// choice of BLAS lives in one place: oneDNN's dnnl_sgemm (BENCHMARKS.md, "Matrix products":
/// as fast as OpenBLAS on AMD Zen 3, and it detects Intel AVX-512/AMX by itself, where Debian's
/// OpenBLAS falls back to a generic kernel unless OPENBLAS_CORETYPE is set before start-up).
public enum GEMM {
    /// Products with fewer multiply-adds than this run on one thread (~0.1 ms of work on one
    /// core): below it a second OpenMP thread saves less than its wake-up and barrier cost, and
    /// costs milliseconds when the other core is busy. Measured: 16×1536×576 (14 M) takes
    /// 0.198 ms on two threads vs 0.392 ms on one (BENCHMARKS.md).
    public static let parallelThreshold = 4 << 20

    /// Threads used for large products: all cores, unless OMP_NUM_THREADS says otherwise.
    public static let maxThreads: Int = {
        let fromOpenMP = Int(ck_blas_max_threads())
        return fromOpenMP > 0 ? fromOpenMP : ProcessInfo.processInfo.activeProcessorCount
    }()

    /// A cap on the threads of every product started on this thread (or task) while it is bound,
    /// e.g. 1 inside a worker that already has a core to itself (`GEMM.$threadLimit.withValue(1)`).
    /// OpenMP's thread count is per calling thread, so two such workers run their products side by
    /// side without sharing a team.
    @TaskLocal public static var threadLimit: Int?

    /// C = alpha · op(A) · op(B) + beta · C, all row-major. op(X) is X or Xᵀ.
    /// A is m×k after op, B is k×n after op, C is m×n.
    public static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        // Read the core count before the first omp_set_num_threads call below: read after a
        // small product has set 1, `maxThreads` would stay 1 for the life of the process.
        let all = maxThreads
        if m == 0 || n == 0 { return }
        let work = m.multipliedReportingOverflow(by: n).partialValue.multipliedReportingOverflow(by: k)
        let small = !work.overflow && work.partialValue < parallelThreshold
        _ = ck_blas_set_threads(Int32(small ? 1 : max(1, min(all, threadLimit ?? all))))
        let status = dnnl_sgemm(
            transA ? 84 /* 'T' */ : 78 /* 'N' */, transB ? 84 : 78,
            Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        precondition(status == dnnl_success, "dnnl_sgemm failed with status \(status)")
    }
}
