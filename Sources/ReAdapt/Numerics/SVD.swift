import CLAPACK
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A thin SVD A = U·diag(s)·Vᵀ of a row-major m×n matrix, p = min(m, n).
///
/// Values are Float64 and descending. Vectors are stored as the LoRA factors need them, so
/// nothing is transposed: `left` is U row-major (m×p), `rightTransposed` is Vᵀ row-major (p×n).
struct ThinSVD {
    var values: [Double]
    var left: [Double]
    var rightTransposed: [Double]
}

/// Dense SVD and QR through LAPACKE, computed in Float64 so that the singular values, and the
/// ranks chosen from their cumulative squares, agree with numpy's float64 SVD.
///
/// A row-major m×n matrix is the column-major n×m matrix Aᵀ. Every call below factorizes that
/// transpose in LAPACK's native column-major layout instead of asking LAPACKE to copy A:
/// Aᵀ = U'·S·V'ᵀ means A = V'·S·U'ᵀ, and the column-major U' and V'ᵀ LAPACK returns are,
/// byte for byte, the row-major Vᵀ and U of A.
enum DenseSVD {
    /// LAPACK status codes as errors the callers turn into a message naming the tensor.
    struct Failure: Error { var routine: String; var info: Int32 }

    /// Singular values only (LAPACK's dgesdd with jobz 'N').
    static func values(rows: Int, columns: Int, matrix: UnsafePointer<Float>) throws -> [Double] {
        try lapackSingleThreaded {
            var a = widen(matrix, count: rows * columns)
            var s = [Double](repeating: 0, count: min(rows, columns))
            var unused = [Double](repeating: 0, count: 1)
            var unusedT = [Double](repeating: 0, count: 1)
            let info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "N")), Int32(columns), Int32(rows),
                                      &a, Int32(max(columns, 1)), &s, &unused, 1, &unusedT, 1)
            guard info == 0 else { throw Failure(routine: "dgesdd", info: info) }
            return s
        }
    }

    /// The thin SVD with vectors (dgesdd with jobz 'S').
    static func decompose(rows: Int, columns: Int, matrix: UnsafePointer<Float>) throws -> ThinSVD {
        try decompose(rows: rows, columns: columns, matrix: widen(matrix, count: rows * columns))
    }

    /// The thin SVD with vectors of a row-major Float64 matrix.
    static func decompose(rows: Int, columns: Int, matrix: [Double]) throws -> ThinSVD {
        try lapackSingleThreaded {
            let p = min(rows, columns)
            var a = matrix
            var s = [Double](repeating: 0, count: p)
            // Column-major Aᵀ (columns × rows): its U' (columns × p) is A's Vᵀ row-major (p × columns),
            // its V'ᵀ (p × rows, leading dimension p) is A's U row-major (rows × p).
            var rightTransposed = [Double](repeating: 0, count: max(columns * p, 1))
            var left = [Double](repeating: 0, count: max(rows * p, 1))
            let info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "S")), Int32(columns), Int32(rows),
                                      &a, Int32(max(columns, 1)), &s, &rightTransposed, Int32(max(columns, 1)),
                                      &left, Int32(max(p, 1)))
            guard info == 0 else { throw Failure(routine: "dgesdd", info: info) }
            return ThinSVD(values: s, left: left, rightTransposed: rightTransposed)
        }
    }

    /// Replaces `y`, a `rows` × `columns` matrix (rows ≥ columns) in LAPACK's column-major layout
    /// (its transpose stored row-major), by one with orthonormal columns spanning the same space:
    /// blocked Householder QR (sgeqrf + sorgqr) on contiguous columns, no layout conversion.
    static func orthonormalizeColumnMajor(rows: Int, columns: Int, _ y: inout [Float]) throws {
        try lapackSingleThreaded {
            var tau = [Float](repeating: 0, count: columns)
            var info = LAPACKE_sgeqrf(LAPACK_COL_MAJOR, Int32(rows), Int32(columns), &y, Int32(rows), &tau)
            guard info == 0 else { throw Failure(routine: "sgeqrf", info: info) }
            info = LAPACKE_sorgqr(LAPACK_COL_MAJOR, Int32(rows), Int32(columns), Int32(columns), &y, Int32(rows), &tau)
            guard info == 0 else { throw Failure(routine: "sorgqr", info: info) }
        }
    }

    static func widen(_ matrix: UnsafePointer<Float>, count: Int) -> [Double] {
        [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = Double(matrix[i]) }
            initialized = count
        }
    }

    /// Debian's LAPACK is OpenBLAS's pthread build. Its worker threads would spin against
    /// oneDNN's OpenMP team on the same cores between the SVDs and the large products, and the
    /// factorizations here are small; one thread is what the benchmark measured best.
    private static let singleThreaded: Void = {
        // LAPACKE scans every input for NaN; LowRank has already refused non-finite deltas.
        LAPACKE_set_nancheck(0)
        typealias SetThreads = @convention(c) (Int32) -> Void
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "openblas_set_num_threads") {
            unsafeBitCast(symbol, to: SetThreads.self)(1)
        }
    }()

    static func lapackSingleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        _ = singleThreaded
        return try body()
    }
}
