import XCTest
@testable import ReAdapt

final class WeightMatrixTests: XCTestCase {
    /// y = x·Wᵀ (+ start) in Double, over the given (already rounded) weights.
    static func naive(x: [Float], rows: Int, w: [Float], out: Int, k: Int, start: [Float]?) -> [Float] {
        var y = [Float](repeating: 0, count: rows * out)
        for r in 0..<rows {
            for o in 0..<out {
                var sum = Double(start?[r * out + o] ?? 0)
                for i in 0..<k { sum += Double(x[r * k + i]) * Double(w[o * k + i]) }
                y[r * out + o] = Float(sum)
            }
        }
        return y
    }

    /// `apply` in every precision agrees with a naive loop over the weights that precision holds,
    /// through the GEMV path (≤ 8 rows, single- and multi-threaded) and the BLAS path (more rows,
    /// 16-bit weights widened in several blocks), with and without accumulation.
    func testApplyMatchesNaiveLoopInEveryPrecision() {
        var rng = SystemRandomNumberGenerator()
        // (out, in): small (one thread), large enough for threads, and k = 2048 so that
        // prefill widens 16-bit weights in blocks of 128 rows (300 rows → 3 blocks).
        for (out, k) in [(5, 3), (37, 61), (300, 401), (300, 2048)] {
            let values = (0..<(out * k)).map { _ in Float.random(in: -0.5...0.5, using: &rng) }
            for storage in WeightStorage.allCases {
                let matrix = WeightMatrix(Tensor(shape: [out, k], scalars: values), storage: storage)
                XCTAssertEqual(matrix.storage, storage)
                let held = matrix.toTensor().scalars
                if storage == .f32 { XCTAssertEqual(held, values) }
                else { XCTAssertEqual(held, FloatConversion.widen(FloatConversion.narrow(values, format: storage.halfFormat!), format: storage.halfFormat!)) }
                for rows in [1, 3, 8, 9, 33] where rows * out * k <= 6_000_000 {
                    let x = (0..<(rows * k)).map { _ in Float.random(in: -1...1, using: &rng) }
                    for accumulate in [false, true] {
                        let start = accumulate ? (0..<(rows * out)).map { _ in Float.random(in: -1...1, using: &rng) } : nil
                        var y = start ?? [Float](repeating: .nan, count: rows * out)
                        matrix.apply(x, rows: rows, into: &y, accumulate: accumulate)
                        let expected = Self.naive(x: x, rows: rows, w: held, out: out, k: k, start: start)
                        let tolerance = 1e-5 * Float(k).squareRoot() * 4
                        for i in y.indices where abs(y[i] - expected[i]) > tolerance * max(1, abs(expected[i])) {
                            XCTFail("\(storage) out \(out) k \(k) rows \(rows) acc \(accumulate): y[\(i)] = \(y[i]), expected \(expected[i])")
                            break
                        }
                    }
                }
            }
        }
    }

    /// Pinned against PyTorch: x @ W.to(dtype).T computed in float64 by torch.
    func testApplyMatchesTorchLinearInEveryPrecision() throws {
        let x = try FloatConversionTests.fixture("linear_x.f32", as: Float.self)
        let w = try FloatConversionTests.fixture("linear_w.f32", as: Float.self)
        for storage in WeightStorage.allCases {
            let expected = try FloatConversionTests.fixture("linear_y_\(storage.rawValue).f32", as: Float.self)
            let matrix = WeightMatrix(Tensor(shape: [29, 37], scalars: w), storage: storage)
            for rows in [1, 5] {  // GEMV path, and each row separately against the same fixture
                var y = [Float](repeating: 0, count: 5 * 29)
                if rows == 5 {
                    matrix.apply(x, rows: 5, into: &y)
                } else {
                    for r in 0..<5 {
                        x.withUnsafeBufferPointer { xp in
                            y.withUnsafeMutableBufferPointer { yp in
                                matrix.apply(xp.baseAddress! + r * 37, rows: 1, into: yp.baseAddress! + r * 29)
                            }
                        }
                    }
                }
                for i in y.indices {
                    XCTAssertEqual(y[i], expected[i], accuracy: 1e-5 * max(1, abs(expected[i])), "\(storage) rows \(rows)")
                }
            }
            // The BLAS path (more than gemvRowLimit rows): stack the fixture rows twice.
            let stacked = x + x
            var y = [Float](repeating: 0, count: 10 * 29)
            matrix.apply(stacked, rows: 10, into: &y)
            for i in y.indices { XCTAssertEqual(y[i], expected[i % (5 * 29)], accuracy: 1e-5 * max(1, abs(expected[i % (5 * 29)]))) }
        }
    }

    /// Building from raw checkpoint bytes gives the same matrix as going through Float32.
    func testRawBytesInitialiserKeepsBitsAndConverts() throws {
        let values: [Float] = (0..<(6 * 10)).map { Float($0) * 0.37 - 9 }
        for source in HalfFormat.allCases {
            let bits = FloatConversion.narrow(values, format: source)
            let wide = FloatConversion.widen(bits, format: source)
            for storage in WeightStorage.allCases {
                let matrix = try bits.withUnsafeBytes {
                    try WeightMatrix(outFeatures: 6, inFeatures: 10, dtype: source.dtype, bytes: $0, storage: storage)
                }
                let viaF32 = WeightMatrix(Tensor(shape: [6, 10], scalars: wide), storage: storage)
                XCTAssertEqual(matrix.toTensor(), viaF32.toTensor(), "\(source) → \(storage)")
                if storage.halfFormat == source { XCTAssertEqual(matrix.toTensor().scalars, wide) }
            }
        }
        let fromF32 = try values.withUnsafeBytes {
            try WeightMatrix(outFeatures: 6, inFeatures: 10, dtype: .f32, bytes: $0, storage: .f32)
        }
        XCTAssertEqual(fromF32.toTensor().scalars, values)
        XCTAssertEqual(fromF32.byteCount, 240)
    }

    func testRawBytesInitialiserRejectsBadInput() throws {
        let bytes = [UInt8](repeating: 0, count: 10)
        try bytes.withUnsafeBytes { raw in
            XCTAssertThrowsError(try WeightMatrix(outFeatures: 2, inFeatures: 3, dtype: .bf16, bytes: raw, name: "q_proj")) { error in
                XCTAssertEqual(error as? WeightMatrixError, .byteCountMismatch(name: "q_proj", expected: 12, actual: 10))
                XCTAssertEqual("\(error)", "Tensor 'q_proj' has 10 bytes of data where its shape and dtype need 12.")
            }
            XCTAssertThrowsError(try WeightMatrix(outFeatures: 2, inFeatures: 5, dtype: .i8, bytes: raw, name: "w")) { error in
                XCTAssertEqual(error as? WeightMatrixError, .unsupportedDType(name: "w", dtype: .i8))
            }
            XCTAssertThrowsError(try WeightMatrix(outFeatures: -1, inFeatures: 5, dtype: .f32, bytes: raw)) { error in
                XCTAssertEqual(error as? WeightMatrixError, .badShape(name: "weight", outFeatures: -1, inFeatures: 5))
            }
        }
    }

    func testDefaultPrecisionKnob() {
        let saved = WeightStorage.inferenceDefault
        defer { WeightStorage.inferenceDefault = saved }
        WeightStorage.inferenceDefault = .f16
        XCTAssertEqual(WeightMatrix(Tensor(zeros: [2, 2])).storage, .f16)
        WeightStorage.inferenceDefault = .f32
        XCTAssertEqual(WeightMatrix(Tensor(zeros: [2, 2])).storage, .f32)
    }
}
