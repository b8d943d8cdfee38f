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
