import XCTest
import CKernels
@testable import ReAdapt

/// Every SIMD matrix-vector kernel agrees with its scalar reference, for random sizes with odd
/// tails, output sub-ranges, several input rows and accumulation.
final class GEMVKernelTests: XCTestCase {
    func testSIMDKernelsAgreeWithScalarReference() {
        let levels = Array(1...max(1, ck_simd_level())).filter { $0 <= ck_simd_level() }
        if levels.isEmpty { return }  // scalar-only CPU: nothing to compare
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<60 {
            let k = trial < 6 ? [1, 7, 8, 16, 33, 576][trial] : Int.random(in: 1...300, using: &rng)
            let outFeatures = Int.random(in: 1...37, using: &rng)
            let rows = Int.random(in: 1...8, using: &rng)
            let o0 = Int.random(in: 0..<outFeatures, using: &rng)
            let o1 = Int.random(in: (o0 + 1)...outFeatures, using: &rng)
            let accumulate: Int32 = trial % 2 == 0 ? 1 : 0
            let w = (0..<(outFeatures * k)).map { _ in Float.random(in: -1...1, using: &rng) }
            let x = (0..<(rows * k)).map { _ in Float.random(in: -1...1, using: &rng) }
            let start = (0..<(rows * outFeatures)).map { _ in Float.random(in: -1...1, using: &rng) }
            let bf16 = FloatConversion.narrow(w, format: .bf16)
            let f16 = FloatConversion.narrow(w, format: .f16)
            for type in [CK_WEIGHT_F32, CK_WEIGHT_BF16, CK_WEIGHT_F16] {
                func run(_ level: Int32) -> [Float] {
                    var y = start
                    func call(_ p: UnsafeRawPointer) {
                        ck_gemv(level, type, p, k, o0, o1, x, k, rows, &y, outFeatures, accumulate)
                    }
                    switch type {
                    case CK_WEIGHT_F32: w.withUnsafeBytes { call($0.baseAddress!) }
                    case CK_WEIGHT_BF16: bf16.withUnsafeBytes { call($0.baseAddress!) }
                    default: f16.withUnsafeBytes { call($0.baseAddress!) }
                    }
                    return y
                }
                let reference = run(0)
                for level in levels {
                    let fast = run(Int32(level))
                    for i in reference.indices {
                        let o = i % outFeatures
                        if o < o0 || o >= o1 {
                            XCTAssertEqual(fast[i], start[i], "row \(o) outside [\(o0), \(o1)) was written")
                        } else {
                            // Summation order differs: allow float rounding of a k-term sum.
                            XCTAssertEqual(fast[i], reference[i], accuracy: 1e-6 * Float(k) + 1e-6,
                                           "type \(type.rawValue) level \(level) k \(k) rows \(rows)")
                        }
                    }
                }
            }
        }
    }
}
