import XCTest
import ReAdapt

final class GEMMTests: XCTestCase {
    /// The BLAS product agrees with a plain triple loop for every transpose combination.
    func testSgemmMatchesNaiveLoop() {
        let m = 5, n = 7, k = 3
        var rng = SystemRandomNumberGenerator()
        let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
        for transA in [false, true] {
            for transB in [false, true] {
                // Stored layouts: A is m×k (or k×m if transposed), B is k×n (or n×k).
                func aAt(_ i: Int, _ p: Int) -> Float { transA ? a[p * m + i] : a[i * k + p] }
                func bAt(_ p: Int, _ j: Int) -> Float { transB ? b[j * k + p] : b[p * n + j] }
                var c = [Float](repeating: 0, count: m * n)
                GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k,
                           a: a, lda: transA ? m : k, b: b, ldb: transB ? k : n, c: &c, ldc: n)
                for i in 0..<m {
                    for j in 0..<n {
                        var expected: Float = 0
                        for p in 0..<k { expected += aAt(i, p) * bAt(p, j) }
                        XCTAssertEqual(c[i * n + j], expected, accuracy: 1e-5)
                    }
                }
            }
        }
    }
}

final class GEMMShapeTests: XCTestCase {
    /// Odd sizes, alpha and beta, every transpose, leading dimensions larger than the matrices.
    func testSgemmAllTransposesWithAlphaBetaAndPadding() {
        let m = 33, n = 17, k = 65, pad = 3
        var rng = SystemRandomNumberGenerator()
        for transA in [false, true] {
            for transB in [false, true] {
                let (aRows, aCols) = transA ? (k, m) : (m, k)
                let (bRows, bCols) = transB ? (n, k) : (k, n)
                let lda = aCols + pad, ldb = bCols + pad, ldc = n + pad
                let a = (0..<(aRows * lda)).map { _ in Float.random(in: -1...1, using: &rng) }
                let b = (0..<(bRows * ldb)).map { _ in Float.random(in: -1...1, using: &rng) }
                let c0 = (0..<(m * ldc)).map { _ in Float.random(in: -1...1, using: &rng) }
                var c = c0
                GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5,
                           a: a, lda: lda, b: b, ldb: ldb, beta: 2, c: &c, ldc: ldc)
                for i in 0..<m {
                    for j in 0..<ldc {
                        guard j < n else { XCTAssertEqual(c[i * ldc + j], c0[i * ldc + j]); continue }
                        var sum: Double = 0
                        for p in 0..<k {
                            let av = transA ? a[p * lda + i] : a[i * lda + p]
                            let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                            sum += Double(av) * Double(bv)
                        }
                        let expected = Float(0.5 * sum + 2 * Double(c0[i * ldc + j]))
                        XCTAssertEqual(c[i * ldc + j], expected, accuracy: 1e-4, "transA \(transA) transB \(transB)")
                    }
                }
            }
        }
    }
}

final class GEMMThreadingTests: XCTestCase {
    /// A product above `GEMM.parallelThreshold` (multi-threaded) agrees with the same rows
    /// computed one at a time (each below the threshold, so single-threaded).
    func testParallelProductAgreesWithRowByRowProducts() {
        let m = 64, n = 520, k = 520
        XCTAssertGreaterThan(m * n * k, GEMM.parallelThreshold)
        XCTAssertLessThan(n * k, GEMM.parallelThreshold)
        var rng = SystemRandomNumberGenerator()
        let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let b = (0..<(n * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        var whole = [Float](repeating: 0, count: m * n)
        GEMM.sgemm(transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &whole, ldc: n)
        var rows = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { ap in
            rows.withUnsafeMutableBufferPointer { cp in
                for r in 0..<m {
                    GEMM.sgemm(transB: true, m: 1, n: n, k: k, a: ap.baseAddress! + r * k, lda: k,
                               b: b, ldb: k, c: cp.baseAddress! + r * n, ldc: n)
                }
            }
        }
        // A 520-term sum of products of magnitude ≤ 1: summation order may differ.
        for i in whole.indices { XCTAssertEqual(whole[i], rows[i], accuracy: 1e-3) }
        // And a spot check against a plain loop.
        for (r, c) in [(0, 0), (63, 519), (17, 300)] {
            var sum: Double = 0
            for p in 0..<k { sum += Double(a[r * k + p]) * Double(b[c * k + p]) }
            XCTAssertEqual(Double(whole[r * n + c]), sum, accuracy: 1e-3)
        }
    }
}
