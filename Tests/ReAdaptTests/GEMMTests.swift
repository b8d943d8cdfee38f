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
