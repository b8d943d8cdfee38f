import Foundation
import XCTest
@testable import ReAdapt
import CKernels

/// AdamW and clip_grad_norm_ against torch (scripts/fixtures/make_optim_fixtures.py): three random
/// tensors flattened into one buffer, 10 steps of random gradients (every third step large enough
/// that clipping scales it), one case with weight decay 0.01 and torch's default betas, one without
/// decay and with other betas/eps/max_norm.
final class OptimAdamWTests: XCTestCase {
    struct Case: Decodable {
        var name: String
        var lr, beta1, beta2, eps: Double
        var weightDecay: Double
        var maxNorm: Double
        var params: [Float]
        var steps: [Step]
        enum CodingKeys: String, CodingKey {
            case name, lr, beta1, beta2, eps, params, steps, weightDecay = "weight_decay", maxNorm = "max_norm"
        }
    }
    struct Step: Decodable {
        var grad: [Float]
        var totalNorm: Float
        var clipped: Bool
        var params, expAvg, expAvgSq: [Float]
        enum CodingKeys: String, CodingKey {
            case grad, clipped, params, totalNorm = "total_norm", expAvg = "exp_avg", expAvgSq = "exp_avg_sq"
        }
    }

    static func fixture<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let data = try Data(contentsOf: root.appendingPathComponent("optim").appendingPathComponent(name))
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// (‖got − expected‖ / ‖expected‖, max|got − expected| / max|expected|): relative errors of the
    /// whole buffer and of its worst element against the buffer's scale. exp_avg is a signed
    /// average, so single elements sit near 0 where per-element relative error is only rounding noise.
    func relativeErrors(_ got: [Float], _ expected: [Float]) -> (norm: Double, element: Double) {
        XCTAssertEqual(got.count, expected.count)
        var diff = 0.0, norm = 0.0, maxDiff = 0.0, scale = 0.0
        for (a, b) in zip(got, expected) {
            diff += Double(a - b) * Double(a - b)
            norm += Double(b) * Double(b)
            maxDiff = max(maxDiff, Double(abs(a - b)))
            scale = max(scale, Double(abs(b)))
        }
        return ((diff / max(norm, 1e-30)).squareRoot(), maxDiff / max(scale, 1e-30))
    }

    /// Tolerance: params, exp_avg and exp_avg_sq after every step within 1e-6 relative, both
    /// norm-wise and element-wise against the buffer's largest value (F32 rounding differences
    /// only); the clip total norm within 1e-6 relative.
    func check(_ c: Case) throws {
        let n = c.params.count
        let optimizer = try AdamW(parameterCount: n, options: AdamWOptions(
            learningRate: c.lr, beta1: c.beta1, beta2: c.beta2, epsilon: c.eps, weightDecay: c.weightDecay))
        var params = c.params
        var clippedSteps = 0
        var worst = 0.0
        for (i, expected) in c.steps.enumerated() {
            var grad = expected.grad
            let total = grad.withUnsafeMutableBufferPointer {
                GradientClipping.clipGlobalNorm($0.baseAddress!, count: n, maxNorm: c.maxNorm)
            }
            XCTAssertEqual(Double(total), Double(expected.totalNorm), accuracy: 1e-6 * Double(expected.totalNorm),
                           "\(c.name) step \(i) total norm")
            if expected.clipped {
                clippedSteps += 1
                let after = grad.withUnsafeBufferPointer { GradientClipping.globalNorm($0.baseAddress!, count: n) }
                XCTAssertEqual(Double(after), c.maxNorm, accuracy: 1e-5, "\(c.name) step \(i): clipped to max_norm")
            } else {
                XCTAssertEqual(grad, expected.grad, "\(c.name) step \(i): below max_norm nothing changes")
            }
            params.withUnsafeMutableBufferPointer { p in
                grad.withUnsafeBufferPointer { optimizer.step(parameters: p.baseAddress!, gradients: $0.baseAddress!) }
            }
            XCTAssertEqual(optimizer.step, i + 1)
            let state = optimizer.state
            for (what, got, ref) in [("params", params, expected.params), ("exp_avg", state.expAvg, expected.expAvg),
                                     ("exp_avg_sq", state.expAvgSq, expected.expAvgSq)] {
                let error = relativeErrors(got, ref)
                XCTAssertLessThanOrEqual(error.norm, 1e-6, "\(c.name) step \(i) \(what)")
                XCTAssertLessThanOrEqual(error.element, 1e-6, "\(c.name) step \(i) \(what) worst element")
                worst = max(worst, error.norm, error.element)
            }
        }
        print("\(c.name): worst relative error \(worst)")
        XCTAssertGreaterThan(clippedSteps, 0, "\(c.name): the fixture exercises clipping")
        XCTAssertLessThan(clippedSteps, c.steps.count, "\(c.name): and steps below max_norm")
    }

    func testAdamWWithWeightDecayAndClipping() throws {
        let cases = try Self.fixture("adamw.json", as: [Case].self)
        try check(XCTUnwrap(cases.first { $0.name == "decay" }))
    }

    func testAdamWWithoutWeightDecayOtherBetas() throws {
        let cases = try Self.fixture("adamw.json", as: [Case].self)
        try check(XCTUnwrap(cases.first { $0.name == "no_decay" }))
    }

    func testDefaultsAreTorchs() {
        XCTAssertEqual(AdamWOptions(), AdamWOptions(learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8,
                                                     weightDecay: 0.01))
    }

    /// Saving the state after step 4 and restoring it into a fresh optimizer continues exactly as
    /// the uninterrupted one (bit for bit).
    func testStateRestoreContinuesIdentically() throws {
        let c = try XCTUnwrap(try Self.fixture("adamw.json", as: [Case].self).first)
        let n = c.params.count
        let options = AdamWOptions(learningRate: c.lr, weightDecay: c.weightDecay)
        func run(_ optimizer: AdamW, _ params: inout [Float], steps: Range<Int>) {
            for i in steps {
                params.withUnsafeMutableBufferPointer { p in
                    c.steps[i].grad.withUnsafeBufferPointer { optimizer.step(parameters: p.baseAddress!, gradients: $0.baseAddress!) }
                }
            }
        }
        let straight = try AdamW(parameterCount: n, options: options)
        var a = c.params
        run(straight, &a, steps: 0..<8)
        let first = try AdamW(parameterCount: n, options: options)
        var b = c.params
        run(first, &b, steps: 0..<4)
        let resumed = try AdamW(parameterCount: n, options: options)
        try resumed.restore(first.state)
        XCTAssertEqual(resumed.step, 4)
        run(resumed, &b, steps: 4..<8)
        XCTAssertEqual(a, b)
        XCTAssertEqual(straight.state, resumed.state)

        XCTAssertThrowsError(try resumed.restore(AdamWState(step: 1, expAvg: [0], expAvgSq: [0]))) {
            XCTAssertEqual($0 as? OptimizerError, .stateSizeMismatch(expected: n, found: 1))
            XCTAssertTrue("\($0)".contains("\(n) parameters"))
        }
        XCTAssertThrowsError(try AdamW(parameterCount: 4, noDecayRanges: [2..<6])) {
            XCTAssertEqual($0 as? OptimizerError, .rangeOutOfBounds(lower: 2, upper: 6, parameterCount: 4))
        }
    }

    /// A no-decay range behaves as torch's second param group with weight_decay 0: with zero
    /// gradients, Adam's update is 0, so decayed values shrink by exactly (1 − lr·wd) and the
    /// range's values stay put.
    func testNoDecayRangesSkipOnlyDecay() throws {
        let optimizer = try AdamW(parameterCount: 6, options: AdamWOptions(learningRate: 0.1, weightDecay: 0.5),
                                  noDecayRanges: [4..<6, 1..<2])
        var params: [Float] = [1, 1, 1, 1, 1, 1]
        let grads = [Float](repeating: 0, count: 6)
        params.withUnsafeMutableBufferPointer { p in
            grads.withUnsafeBufferPointer { optimizer.step(parameters: p.baseAddress!, gradients: $0.baseAddress!) }
        }
        XCTAssertEqual(params, [0.95, 1, 0.95, 0.95, 1, 1])
    }

    func testClippingReturnsNormAndLeavesSmallGradients() {
        var g: [Float] = [3, 4]
        let total = g.withUnsafeMutableBufferPointer { GradientClipping.clipGlobalNorm($0.baseAddress!, count: 2, maxNorm: 1) }
        XCTAssertEqual(total, 5)
        XCTAssertEqual(g[0], 3 * (1 / (5 + 1e-6)), accuracy: 1e-7)
        XCTAssertEqual(g[1], 4 * (1 / (5 + 1e-6)), accuracy: 1e-7)
        var small: [Float] = [0.3, 0.4]
        let smallTotal = small.withUnsafeMutableBufferPointer { GradientClipping.clipGlobalNorm($0.baseAddress!, count: 2, maxNorm: 1) }
        XCTAssertEqual(smallTotal, 0.5, accuracy: 1e-7)
        XCTAssertEqual(small, [0.3, 0.4])
    }
}

/// The AVX2 AdamW kernel against its scalar reference: bit-identical (no FMA on either path),
/// on a length that leaves a tail of 5 after the 8-wide loop.
final class OptimKernelTests: XCTestCase {
    func testDispatchedKernelEqualsScalarReference() {
        let n = 8 * 37 + 5
        var rng = SystemRandomNumberGenerator()
        func random(_ scale: Float) -> [Float] { (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) } }
        let p0 = random(1), g = random(0.1), m0 = random(0.01), v0 = random(1e-4).map(abs)
        var s = ck_adamw_scalars(decay: 0.999, one_minus_beta1: 0.1, beta2: 0.999, one_minus_beta2: 0.001,
                                 bias_correction2_sqrt: 0.0447, epsilon: 1e-8, negative_step_size: -0.0123)
        var (p1, m1, v1) = (p0, m0, v0)
        var (p2, m2, v2) = (p0, m0, v0)
        ck_adamw_update(&p1, g, &m1, &v1, n, &s)
        ck_adamw_update_scalar(&p2, g, &m2, &v2, n, &s)
        XCTAssertEqual(p1, p2)
        XCTAssertEqual(m1, m2)
        XCTAssertEqual(v1, v2)
        XCTAssertNotEqual(p1, p0, "the update changed the parameters")
        print("AdamW kernel SIMD level \(ck_simd_level())")
    }
}
