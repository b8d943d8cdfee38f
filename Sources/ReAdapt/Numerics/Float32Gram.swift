import CLAPACK
import Foundation

/// The exact path's fast first try: the Gram matrix and its eigenvalues in Float32, with a
/// certificate that the rank chosen from them is the rank exact arithmetic would choose. When the
/// certificate fails (τ·‖Δ‖_F² too close to a cumulative sum), the caller recomputes in Float64
/// (GramSVD). Float32 halves the memory traffic of the tridiagonal reduction and doubles the
/// vector width of every product: ssytrd + ssterf take ~60 % of dsytrd + dsterf on 576 × 576.
///
/// Certificate. Let G = ΔᵀΔ (or ΔΔᵀ), C × C, with exact eigenvalues λ₁ ≥ … ≥ λ_C ≥ 0 and
/// T = Σλ_i = ‖Δ‖_F² (summed in Float64 by the caller). Write S_j = Σ_{i≤j} λ_i.
/// 1. Gram rounding. Ĝ is formed by one `GEMM.sgemm` per block of `blockLength` (b) inner terms,
///    the block results added up in Float32 in order, so each product passes through at most
///    h = b + ⌈L/b⌉ roundings (its multiply and b − 1 additions within its block in whatever
///    order oneDNN sums, plus one per later block; L = the long side). Hence
///    |Ĝ − G|_ij ≤ γ_h (|Δ|ᵀ|Δ|)_ij, γ_h = h·u/(1 − h·u), u = 2⁻²⁴ (Higham, Accuracy and Stability,
///    §3.1), and ‖E‖_F ≤ γ_h·‖|Δ|ᵀ|Δ|‖_F ≤ γ_h·‖Δ‖_F² = γ_h·T. Only one triangle is computed and
///    read, so E is symmetric.
/// 2. Eigensolver. LAPACK's ssytrd + ssterf are backward stable: the computed λ̂ are the exact
///    eigenvalues of Ĝ + F with ‖F‖ ≤ p(C)·u·‖Ĝ‖ (LAPACK Users' Guide §4.7, where p(n) is "a
///    modestly growing function of n" and the example error bounds take p(n) = 1). We ASSUME
///    ‖F‖_F ≤ C·u·‖Ĝ‖_F, i.e. p(n) = n in the Frobenius norm: n times the Guide's practical
///    constant and the growth of the standard Householder analysis (Wilkinson; Higham §19.3
///    bounds one reflector application by γ̃_{cn}). This is the one assumed constant; the rest is
///    proved. ‖Ĝ‖_F ≤ ‖Ĝ + F‖_F / (1 − C·u) with ‖Ĝ + F‖_F = √(Σλ̂²).
/// 3. Lidskii/Ky Fan: for the symmetric perturbation P = E + F, |Σ_{i≤j} λ̂_i − S_j| ≤
///    Σ_{i≤j} σ_i(P) ≤ √j·‖P‖_F =: δ_j.
/// 4. With k the smallest index whose computed sum Ŝ_k reaches τT: if Ŝ_{k−1} + δ_{k−1} < τT and
///    Ŝ_k − δ_k ≥ τT (both with slack for the Float64 sums), then S_{k−1} < τT ≤ S_k, and since
///    the λ_i are ≥ 0 the partial sums are non-decreasing, so k is the exact rule's rank.
enum Float32Gram {
    /// Inner terms per accumulated Gram product (b above).
    static let blockLength = 128
    /// Gram column blocks this wide or wider are split so only the upper block triangle is formed.
    static let columnBlock = 192

    struct Spectrum {
        var rows: Int, columns: Int
        /// The reduced Gram matrix (ssytrd reflectors, column-major lower = row-major upper).
        var reduced: [Float]
        var tau: [Float]
        var diagonal: [Float]
        var offDiagonal: [Float]
        /// Computed eigenvalues, descending, not clamped (the certificate needs them as computed).
        var values: [Double]
        /// Roundings per Gram entry (h above).
        var depth: Int
    }

    static func spectrum(rows: Int, columns: Int, matrix: UnsafePointer<Float>) throws -> Spectrum {
        let c = min(rows, columns), long = max(rows, columns)
        var gram = [Float](repeating: 0, count: c * c)
        let blocks = c >= 2 * columnBlock ? (c + columnBlock - 1) / columnBlock : 1
        let width = (c + blocks - 1) / blocks
        // Each row block's product goes into `part` (beta = 0) and is added to `gram` here, so the
        // rounding count per entry is known whatever order oneDNN sums in (certificate, step 1).
        var part = [Float](repeating: 0, count: c * c)
        var start = 0
        while start < long {
            let length = min(blockLength, long - start)
            let first = start == 0
            func product(into g: UnsafeMutableBufferPointer<Float>) {
                for bi in 0..<blocks {
                    let i0 = bi * width, ni = min(width, c - i0)
                    for bj in bi..<blocks {
                        let j0 = bj * width, nj = min(width, c - j0)
                        if rows >= columns {
                            // [I, J] = Δ[R, I]ᵀ · Δ[R, J]
                            GEMM.sgemm(transA: true, m: ni, n: nj, k: length,
                                       a: matrix + start * columns + i0, lda: columns,
                                       b: matrix + start * columns + j0, ldb: columns,
                                       c: g.baseAddress! + i0 * c + j0, ldc: c)
                        } else {
                            // [I, J] = Δ[I, R] · Δ[J, R]ᵀ
                            GEMM.sgemm(transB: true, m: ni, n: nj, k: length,
                                       a: matrix + i0 * columns + start, lda: columns,
                                       b: matrix + j0 * columns + start, ldb: columns,
                                       c: g.baseAddress! + i0 * c + j0, ldc: c)
                        }
                    }
                }
            }
            // The block products are small (≤ 192 × 192 × 128): one thread each, never a team
            // barrier per call (GEMM.parallelThreshold explains the cost).
            GEMM.$threadLimit.withValue(1) {
                if first { gram.withUnsafeMutableBufferPointer { product(into: $0) } } else {
                    part.withUnsafeMutableBufferPointer { product(into: $0) }
                }
            }
            if !first {
                gram.withUnsafeMutableBufferPointer { g in
                    part.withUnsafeBufferPointer { p in
                        for bi in 0..<blocks {
                            let i0 = bi * width, end = min(i0 + width, c)
                            for r in i0..<end {
                                let row = r * c
                                for x in i0..<c { g[row + x] += p[row + x] }
                            }
                        }
                    }
                }
            }
            start += length
        }
        let depth = min(blockLength, long) + (long + blockLength - 1) / blockLength
        var diagonal = [Float](repeating: 0, count: c)
        var offDiagonal = [Float](repeating: 0, count: c)   // c - 1 used; sstemr wants c
        var tau = [Float](repeating: 0, count: max(c - 1, 1))
        // Row-major upper triangle = column-major lower ('L').
        var info = DenseSVD.lapackSingleThreaded {
            LAPACKE_ssytrd(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "L")), Int32(c), &gram, Int32(c),
                           &diagonal, &offDiagonal, &tau)
        }
        guard info == 0 else { throw DenseSVD.Failure(routine: "ssytrd", info: info) }
        var eigenvalues = diagonal, work = offDiagonal
        info = LAPACKE_ssterf(Int32(c), &eigenvalues, &work)
        guard info == 0 else { throw DenseSVD.Failure(routine: "ssterf", info: info) }
        return Spectrum(rows: rows, columns: columns, reduced: gram, tau: tau, diagonal: diagonal,
                        offDiagonal: offDiagonal, values: eigenvalues.reversed().map(Double.init), depth: depth)
    }

    /// The rank of the rule at `tau` if the certificate above proves it equals the exact one,
    /// else nil. `total` is ‖Δ‖_F² summed in Float64.
    static func certifiedRank(_ spectrum: Spectrum, tau: Double, total: Double) -> Int? {
        guard total > 0 else { return 0 }   // a zero matrix: rank 0, as the exact rule
        let c = spectrum.values.count
        let perturbation = perturbationBound(spectrum, total: total)
        let computedNorm = spectrum.values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        // Float64 rounding of T (≤ rows·columns additions) and of the partial sums (≤ C).
        let slack = Double(spectrum.rows * spectrum.columns + c + 2) * 0x1p-52 * (total + computedNorm * Double(c).squareRoot())
        let target = tau * total
        var previous = 0.0, cumulative = 0.0
        for j in 1...c {
            previous = cumulative
            cumulative += spectrum.values[j - 1]
            guard cumulative >= target else { continue }
            let below = j == 1 || previous + Double(j - 1).squareRoot() * perturbation + slack < target
            let reached = cumulative - Double(j).squareRoot() * perturbation - slack >= target
            return below && reached ? j : nil
        }
        return nil
    }

    /// Extra Float32 eigenvectors around the cut that the Float64 refinement may rotate in.
    static let refinementExtra = 16

    private typealias Dgemm = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Double, UnsafePointer<Double>,
                                              Int32, UnsafePointer<Double>, Int32, Double,
                                              UnsafeMutablePointer<Double>, Int32) -> Void
    private static let dgemm: Dgemm? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "cblas_dgemm") else { return nil }
        return unsafeBitCast(symbol, to: Dgemm.self)
    }()

    /// Whether the factors at rank k are cheaper here than on the Float64 path: the refinement's
    /// Float64 product Δ·Q costs 2·R·C·p flops against the Float64 Gram's R·C², so it pays while
    /// p = k + 16 stays under a third of C.
    static func refinesCheaply(_ spectrum: Spectrum, rank k: Int) -> Bool {
        let c = min(spectrum.rows, spectrum.columns)
        return dgemm != nil && GramSVD.dsyrk != nil && 3 * (k + refinementExtra) <= c
    }

    /// The top `count` eigenvectors of the tridiagonal matrix, ascending, column-major: inverse
    /// iteration (sstein) at the eigenvalues ssterf already found, or MRRR (sstemr, which
    /// recomputes them by bisection, 2× slower here) if inverse iteration does not converge.
    static func tridiagonalVectors(_ spectrum: Spectrum, count p: Int, into vectors: inout [Float]) throws {
        let c = spectrum.diagonal.count
        var diagonal = spectrum.diagonal, offDiagonal = spectrum.offDiagonal
        var wanted = (0..<p).map { Float(spectrum.values[p - 1 - $0]) }
        var blocks = [Int32](repeating: 1, count: p), splits = [Int32](repeating: 0, count: c)
        splits[0] = Int32(c)
        var failures = [Int32](repeating: 0, count: p)
        let info = DenseSVD.lapackSingleThreaded {
            LAPACKE_sstein(LAPACK_COL_MAJOR, Int32(c), &diagonal, &offDiagonal, Int32(p), &wanted, &blocks, &splits,
                           &vectors, Int32(c), &failures)
        }
        if info == 0 { return }
        var values = [Float](repeating: 0, count: c)
        var support = [Int32](repeating: 0, count: 2 * p)
        var found: Int32 = 0
        var tryAccurate: Int32 = 1
        let mrrr = DenseSVD.lapackSingleThreaded {
            LAPACKE_sstemr(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "I")), Int32(c),
                           &diagonal, &offDiagonal, 0, 0, Int32(c - p + 1), Int32(c), &found, &values,
                           &vectors, Int32(c), Int32(p), &support, &tryAccurate)
        }
        guard mrrr == 0, Int(found) == p else { throw DenseSVD.Failure(routine: "sstemr", info: mrrr) }
    }

    /// ‖E + F‖_F (certificate steps 1 and 2): every partial sum of the computed eigenvalues is
    /// within √j times this of the exact one.
    static func perturbationBound(_ spectrum: Spectrum, total: Double) -> Double {
        let u = 0x1p-24, h = Double(spectrum.depth), c = Double(spectrum.values.count)
        let gramError = h * u / (1 - h * u) * total
        let computedNorm = spectrum.values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let solverError = c * u * computedNorm / (1 - c * u)
        return gramError + solverError
    }

    /// LoRA factors at rank k. Float32 eigenvectors are only accurate to ~u·λ₁/(λ_k − λ_{k+1}),
    /// too coarse for factors that must match a Float64 SVD, so they only seed a Float64
    /// Rayleigh–Ritz step: Q = orth(top p = k + 16 Float32 vectors) (dgeqrf/dorgqr), W = Δ·Q in
    /// Float64, the top k eigenvectors Y of WᵀW (p × p, dsyevd), V_k = Q·Y. Rounding then only
    /// tilts the subspace out of span(Q), which the 16 extra directions keep small; B·A is exactly
    /// Δ projected on span(V_k), as on the Float64 path. Callers check `refinesCheaply` first.
    static func factors(_ spectrum: Spectrum, matrix: UnsafePointer<Float>, rank k: Int) throws
        -> (a: [Float], b: [Float], kept: Double) {
        guard let dgemm, let dsyrk = GramSVD.dsyrk else { throw DenseSVD.Failure(routine: "cblas_dgemm (not found)", info: -1) }
        let rows = spectrum.rows, columns = spectrum.columns, c = min(rows, columns)
        let p = min(c, k + refinementExtra)
        var vectors = [Float](repeating: 0, count: c * p)   // column-major c×p, ascending values
        try tridiagonalVectors(spectrum, count: p, into: &vectors)
        var reduced = spectrum.reduced, tau = spectrum.tau
        var info = DenseSVD.lapackSingleThreaded {
            LAPACKE_sormtr(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "L")), Int8(UInt8(ascii: "L")), Int8(UInt8(ascii: "N")),
                           Int32(c), Int32(p), &reduced, Int32(c), &tau, &vectors, Int32(c))
        }
        guard info == 0 else { throw DenseSVD.Failure(routine: "sormtr", info: info) }
        // Q: orthonormal basis of the p vectors in Float64 (column-major c×p = row-major Qᵀ, p×c).
        var q = vectors.map(Double.init)
        var reflectors = [Double](repeating: 0, count: p)
        info = DenseSVD.lapackSingleThreaded {
            LAPACKE_dgeqrf(LAPACK_COL_MAJOR, Int32(c), Int32(p), &q, Int32(c), &reflectors)
        }
        guard info == 0 else { throw DenseSVD.Failure(routine: "dgeqrf", info: info) }
        info = DenseSVD.lapackSingleThreaded {
            LAPACKE_dorgqr(LAPACK_COL_MAJOR, Int32(c), Int32(p), Int32(p), &q, Int32(c), &reflectors)
        }
        guard info == 0 else { throw DenseSVD.Failure(routine: "dorgqr", info: info) }
        // W = Δ·Q (rows × p) for right vectors, Wᵀ = Qᵀ·Δ (p × columns) for left ones; H = WᵀW.
        let wide = DenseSVD.widen(matrix, count: rows * columns)
        let transposed = rows < columns
        var w = [Double](repeating: 0, count: transposed ? p * columns : rows * p)
        var h = [Double](repeating: 0, count: p * p)
        DenseSVD.lapackSingleThreaded {
            // CBLAS: 101 row-major, 111 no-trans, 112 trans, 121 upper.
            if transposed {
                dgemm(101, 111, 111, Int32(p), Int32(columns), Int32(rows), 1, q, Int32(c), wide, Int32(columns),
                      0, &w, Int32(columns))
                dsyrk(101, 121, 111, Int32(p), Int32(columns), 1, w, Int32(columns), 0, &h, Int32(p))
            } else {
                dgemm(101, 111, 112, Int32(rows), Int32(p), Int32(columns), 1, wide, Int32(columns), q, Int32(c),
                      0, &w, Int32(p))
                dsyrk(101, 121, 112, Int32(p), Int32(rows), 1, w, Int32(p), 0, &h, Int32(p))
            }
        }
        var ritzValues = [Double](repeating: 0, count: p)
        info = DenseSVD.lapackSingleThreaded {
            LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")), Int32(p), &h, Int32(p),
                           &ritzValues)
        }
        guard info == 0 else { throw DenseSVD.Failure(routine: "dsyevd", info: info) }
        // V_kᵀ = Y_kᵀ·Qᵀ (k × c), largest first: row j of Y_kᵀ is eigenvector p − 1 − j of H.
        var ritzVectors = [Double](repeating: 0, count: k * p)
        for j in 0..<k {
            for i in 0..<p { ritzVectors[j * p + i] = h[i * p + (p - 1 - j)] }
        }
        var rotated = [Double](repeating: 0, count: k * c)
        DenseSVD.lapackSingleThreaded {
            dgemm(101, 111, 111, Int32(k), Int32(c), Int32(p), 1, ritzVectors, Int32(p), q, Int32(c), 0, &rotated, Int32(c))
        }
        let top = rotated.map(Float.init)
        return GramSVD.project(matrix, rows: rows, columns: columns, onto: top, rank: k)
    }
}
