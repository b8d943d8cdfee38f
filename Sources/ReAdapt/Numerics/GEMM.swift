import CDNNL

/// Single-precision matrix products. Every dense product in ReAdapt goes through here, so the
/// choice of BLAS (see BENCHMARKS.md) lives in one place.
public enum GEMM {
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
        if m == 0 || n == 0 { return }
        let status = dnnl_sgemm(
            transA ? 84 /* 'T' */ : 78 /* 'N' */, transB ? 84 : 78,
            Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        precondition(status == dnnl_success, "dnnl_sgemm failed with status \(status)")
    }
}
