import CLAPACK
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The exact SVD the LoRE rank rule needs, through the Float64 Gram matrix: for the row-major
/// m×n Δ, G = ΔᵀΔ (n ≤ m) or ΔΔᵀ (m < n), C×C with C = min(m, n), formed by BLAS dsyrk in
/// Float64, then LAPACK's symmetric eigensolver. Its eigenvalues are the squared singular values.
///
/// Why not dgesdd on Δ: the LoRE rule only needs s_i² and the top-k singular vectors. Forming G is
/// one BLAS-3 pass over Δ and the C×C eigenproblem is small, about 7× faster than dgesdd with
/// vectors for SmolLM2's 1536×576 (docs/lore.md). Accuracy: the eigenvalues of the Float64 Gram are
/// within ~1e-16·s₁² of s_i², so cumulative sums, and the ranks chosen from them, agree with numpy's
/// float64 SVD except at ties within ~1e-13 of τ; a singular value is accurate to ~1e-8·s₁ (the
/// square root of that), which the rank rule never needs more precisely. One tridiagonal reduction
/// (dsytrd) gives all eigenvalues (dsterf) and the top-k vectors (dstemr + dormtr); the factors are built as Δ·V (or Uᵀ·Δ), so B·A is exactly Δ projected on the top-k
/// singular subspace even where close eigenvalues mix individual vectors.
enum GramSVD {
    typealias Dsyrk = @convention(c) (Int32, Int32, Int32, Int32, Int32, Double, UnsafePointer<Double>,
                                              Int32, Double, UnsafeMutablePointer<Double>, Int32) -> Void

    /// cblas_dsyrk from the BLAS that Debian's LAPACK loads (OpenBLAS); nil if absent, in which
    /// case callers use dgesdd.
    static let dsyrk: Dsyrk? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "cblas_dsyrk") else { return nil }
        return unsafeBitCast(symbol, to: Dsyrk.self)
    }()

    static var isAvailable: Bool { dsyrk != nil }

    /// The C×C Gram matrix reduced to tridiagonal form (dsytrd; the reflectors stay in `reduced`
    /// and `tau`), its diagonal and off-diagonal, and its eigenvalues as descending squared
    /// singular values, clamped at 0. The one tridiagonal reduction serves both the values and
    /// the top-k vectors.
    struct Spectrum {
        var rows: Int, columns: Int
        var reduced: [Double]
        var tau: [Double]
        var diagonal: [Double]
        var offDiagonal: [Double]
        var squaredValues: [Double]
        var transposed: Bool { rows < columns }
    }

    static func spectrum(rows: Int, columns: Int, matrix: UnsafePointer<Float>) throws -> Spectrum? {
        guard let dsyrk else { return nil }
        let c = min(rows, columns)
        let wide = DenseSVD.widen(matrix, count: rows * columns)
        var gram = [Double](repeating: 0, count: c * c)
        // One OpenBLAS thread: measured faster here than two, whose spinning fights oneDNN's team.
        DenseSVD.lapackSingleThreaded {
            // Row-major upper triangle of ΔᵀΔ (Trans) or ΔΔᵀ (NoTrans) = column-major lower triangle.
            wide.withUnsafeBufferPointer { a in
                gram.withUnsafeMutableBufferPointer { g in
                    dsyrk(101, 121, rows >= columns ? 112 : 111, Int32(c), Int32(max(rows, columns)), 1,
                          a.baseAddress!, Int32(columns), 0, g.baseAddress!, Int32(c))
                }
            }
        }
        var diagonal = [Double](repeating: 0, count: c)
        var offDiagonal = [Double](repeating: 0, count: c)   // c - 1 used; dstemr wants c
        var tau = [Double](repeating: 0, count: max(c - 1, 1))
        var info = DenseSVD.lapackSingleThreaded {
            LAPACKE_dsytrd(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "L")), Int32(c), &gram, Int32(c),
                           &diagonal, &offDiagonal, &tau)
        }
        guard info == 0 else { throw DenseSVD.Failure(routine: "dsytrd", info: info) }
        var eigenvalues = diagonal, work = offDiagonal
        info = LAPACKE_dsterf(Int32(c), &eigenvalues, &work)
        guard info == 0 else { throw DenseSVD.Failure(routine: "dsterf", info: info) }
        return Spectrum(rows: rows, columns: columns, reduced: gram, tau: tau, diagonal: diagonal,
                        offDiagonal: offDiagonal, squaredValues: eigenvalues.reversed().map { max($0, 0) })
    }

    /// LoRA factors for the top k: A = √S·Vᵀ (k × columns), B = U·√S (rows × k), and the variance
    /// they keep, ‖B·A‖_F².
    static func factors(_ spectrum: Spectrum, matrix: UnsafePointer<Float>, rank k: Int) throws
        -> (a: [Float], b: [Float], kept: Double) {
        let rows = spectrum.rows, columns = spectrum.columns, c = min(rows, columns)
        // Top-k eigenvectors of the tridiagonal matrix (MRRR), then back through the reflectors.
        var diagonal = spectrum.diagonal, offDiagonal = spectrum.offDiagonal
        var vectors = [Double](repeating: 0, count: c * k)   // column-major c×k: eigenvector j at j*c
        var values = [Double](repeating: 0, count: c)
        var support = [Int32](repeating: 0, count: 2 * max(k, 1))
        var found: Int32 = 0
        var tryAccurate: Int32 = 1
        var info = DenseSVD.lapackSingleThreaded {
            LAPACKE_dstemr(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "I")), Int32(c),
                           &diagonal, &offDiagonal, 0, 0, Int32(c - k + 1), Int32(c), &found, &values,
                           &vectors, Int32(c), Int32(k), &support, &tryAccurate)
        }
        guard info == 0, Int(found) == k else { throw DenseSVD.Failure(routine: "dstemr", info: info) }
        var reduced = spectrum.reduced, tau = spectrum.tau
        info = DenseSVD.lapackSingleThreaded {
            LAPACKE_dormtr(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "L")), Int8(UInt8(ascii: "L")), Int8(UInt8(ascii: "N")),
                           Int32(c), Int32(k), &reduced, Int32(c), &tau, &vectors, Int32(c))
        }
        guard info == 0 else { throw DenseSVD.Failure(routine: "dormtr", info: info) }
        // Largest first: dstemr returns ascending eigenvalues. Row j of `top` is the j-th vector.
        var top = [Float](repeating: 0, count: k * c)
        for j in 0..<k {
            let source = (k - 1 - j) * c
            for i in 0..<c { top[j * c + i] = Float(vectors[source + i]) }
        }
        return project(matrix, rows: rows, columns: columns, onto: top, rank: k)
    }

    /// LoRA factors of Δ projected on the top-k eigenvectors of its Gram matrix (`top`: k × C
    /// row-major, largest first): A = √S·Vᵀ, B = U·√S, and the variance they keep, ‖B·A‖_F².
    static func project(_ matrix: UnsafePointer<Float>, rows: Int, columns: Int, onto top: [Float], rank k: Int)
        -> (a: [Float], b: [Float], kept: Double) {
        let c = min(rows, columns), transposed = rows < columns
        // Project: W = Δ·V (rows × k) when V holds right vectors, Wᵀ = Uᵀ·Δ (k × columns) otherwise.
        let projected = transposed ? k * columns : rows * k
        var w = [Float](repeating: 0, count: projected)
        top.withUnsafeBufferPointer { t in
            w.withUnsafeMutableBufferPointer { out in
                if transposed {
                    GEMM.sgemm(m: k, n: columns, k: rows, a: t.baseAddress!, lda: rows, b: matrix, ldb: columns,
                               c: out.baseAddress!, ldc: columns)
                } else {
                    GEMM.sgemm(transB: true, m: rows, n: k, k: columns, a: matrix, lda: columns,
                               b: t.baseAddress!, ldb: columns, c: out.baseAddress!, ldc: k)
                }
            }
        }
        var a = [Float](repeating: 0, count: k * columns)
        var b = [Float](repeating: 0, count: rows * k)
        var kept = 0.0
        for j in 0..<k {
            var squared = 0.0
            if transposed {
                for x in 0..<columns { squared += Double(w[j * columns + x]) * Double(w[j * columns + x]) }
            } else {
                for r in 0..<rows { squared += Double(w[r * k + j]) * Double(w[r * k + j]) }
            }
            kept += squared
            let value = squared.squareRoot()
            guard value > 0 else { continue }   // a zero direction contributes nothing either way
            let root = Float(value.squareRoot()), inverse = Float(1 / value.squareRoot())
            if transposed {
                // Vᵀ row j = Wᵀ row j / s: A = Wᵀ/√s, B = U·√s.
                for x in 0..<columns { a[j * columns + x] = w[j * columns + x] * inverse }
                for r in 0..<rows { b[r * k + j] = top[j * c + r] * root }
            } else {
                // U column j = W column j / s: A = √s·Vᵀ, B = W/√s.
                for x in 0..<columns { a[j * columns + x] = top[j * c + x] * root }
                for r in 0..<rows { b[r * k + j] = w[r * k + j] * inverse }
            }
        }
        return (a, b, kept)
    }
}
