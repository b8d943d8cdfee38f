import Foundation
import XCTest
@testable import ReAdapt

/// Each backward in TrainingOps against central finite differences of its forward.
///
/// The forwards are F32, so the differences are too: step h = 1e-2 on inputs of order 1, the loss
/// L = Σ cᵢ·yᵢ (random fixed c, summed in Float64). Truncation error is O(h²) and rounding error
/// ~1e-7·|L|/h, so the whole gradient must satisfy ‖g_fd − g‖ / ‖g_fd‖ ≤ 2e-3 (a 1% error in a
/// backward fails, `testCheckerRejectsAOnePercentError`).
final class TrainingOpsTests: XCTestCase {
    static let tolerance = 2e-3

    struct Random {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float((state >> 40) & 0xFFFFFF) / Float(1 << 24) * 2 - 1
        }
        mutating func array(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in next() * scale } }
    }

    /// Relative error of `analytic` against central differences of `loss` around `input`.
    static func gradientError(input: [Float], analytic: [Float], step: Float = 1e-2,
                              loss: ([Float]) -> Double) -> (relative: Double, maxAbs: Double) {
        precondition(input.count == analytic.count)
        var diff = 0.0, norm = 0.0, maxAbs = 0.0
        for i in input.indices {
            var plus = input, minus = input
            plus[i] += step
            minus[i] -= step
            let fd = (loss(plus) - loss(minus)) / Double(plus[i] - minus[i])
            diff += (fd - Double(analytic[i])) * (fd - Double(analytic[i]))
            norm += fd * fd
            maxAbs = max(maxAbs, abs(fd - Double(analytic[i])))
        }
        precondition(norm > 0, "a zero gradient proves nothing")
        return ((diff / norm).squareRoot(), maxAbs)
    }

    func assertGradient(_ label: String, input: [Float], analytic: [Float], file: StaticString = #filePath,
                        line: UInt = #line, loss: ([Float]) -> Double) {
        let (relative, maxAbs) = Self.gradientError(input: input, analytic: analytic, loss: loss)
        XCTAssertLessThanOrEqual(relative, Self.tolerance, "\(label): relative \(relative), max-abs \(maxAbs)",
                                 file: file, line: line)
    }

    static func dot(_ c: [Float], _ y: [Float]) -> Double { zip(c, y).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    func testCheckerRejectsAOnePercentError() {
        var rng = Random(state: 1)
        let x = rng.array(8), c = rng.array(8)
        // L = Σ c·x², dL/dx = 2cx; off by 1% must fail.
        let loss = { (x: [Float]) in Self.dot(c, x.map { $0 * $0 }) }
        let exact = zip(c, x).map { 2 * $0 * $1 }
        XCTAssertLessThanOrEqual(Self.gradientError(input: x, analytic: exact, loss: loss).relative, Self.tolerance)
        XCTAssertGreaterThan(Self.gradientError(input: x, analytic: exact.map { $0 * 1.01 }, loss: loss).relative,
                             Self.tolerance)
    }

    func testLinear() {
        var rng = Random(state: 2)
        let rows = 3, inF = 5, outF = 4
        let x = rng.array(rows * inF), w = rng.array(outF * inF), b = rng.array(outF), c = rng.array(rows * outF)
        func forward(_ x: [Float], _ w: [Float], _ b: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: rows * outF)
            TrainingOps.linearForward(x, rows: rows, inFeatures: inF, weight: w, bias: b, outFeatures: outF, into: &y)
            return y
        }
        var dw = [Float](repeating: 0, count: w.count), db = [Float](repeating: 0, count: b.count)
        var dx = [Float](repeating: 7, count: x.count)  // overwritten: accumulateInput is false
        TrainingOps.linearBackward(c, x: x, rows: rows, inFeatures: inF, weight: w, outFeatures: outF,
                                   weightGradient: &dw, biasGradient: &db, inputGradient: &dx, accumulateInput: false)
        assertGradient("dx", input: x, analytic: dx) { Self.dot(c, forward($0, w, b)) }
        assertGradient("dW", input: w, analytic: dw) { Self.dot(c, forward(x, $0, b)) }
        assertGradient("db", input: b, analytic: db) { Self.dot(c, forward(x, w, $0)) }
        // A second call accumulates into dW, db and (with accumulateInput) dx.
        let (dw1, db1, dx1) = (dw, db, dx)
        TrainingOps.linearBackward(c, x: x, rows: rows, inFeatures: inF, weight: w, outFeatures: outF,
                                   weightGradient: &dw, biasGradient: &db, inputGradient: &dx, accumulateInput: true)
        XCTAssertEqual(dw, dw1.map { 2 * $0 })
        XCTAssertEqual(db, db1.map { 2 * $0 })
        for (a, b) in zip(dx, dx1) { XCTAssertEqual(a, 2 * b, accuracy: 1e-6) }
    }

    func testRMSNorm() {
        for addsOne in [false, true] {
            var rng = Random(state: addsOne ? 3 : 4)
            let rows = 3, n = 6
            let x = rng.array(rows * n, scale: 2), w = rng.array(n), c = rng.array(rows * n)
            func forward(_ x: [Float], _ w: [Float]) -> [Float] {
                var y = [Float](repeating: 0, count: rows * n), rstd = [Float](repeating: 0, count: rows)
                TrainingOps.rmsNormForward(x, rows: rows, width: n, weight: w, eps: 1e-6, addsOne: addsOne,
                                           into: &y, rstd: &rstd)
                return y
            }
            var y = [Float](repeating: 0, count: rows * n), rstd = [Float](repeating: 0, count: rows)
            TrainingOps.rmsNormForward(x, rows: rows, width: n, weight: w, eps: 1e-6, addsOne: addsOne, into: &y, rstd: &rstd)
            var dw = [Float](repeating: 0, count: n), dx = [Float](repeating: 0, count: x.count)
            TrainingOps.rmsNormBackward(c, x: x, rstd: rstd, rows: rows, width: n, weight: w, addsOne: addsOne,
                                        weightGradient: &dw, inputGradient: &dx)
            assertGradient("dx addsOne=\(addsOne)", input: x, analytic: dx) { Self.dot(c, forward($0, w)) }
            assertGradient("dw addsOne=\(addsOne)", input: w, analytic: dw) { Self.dot(c, forward(x, $0)) }
        }
    }

    func testRoPE() {
        var rng = Random(state: 5)
        let batch = 2, seqLen = 3, heads = 2, headDim = 4, half = headDim / 2
        let rows = batch * seqLen
        let angles = rng.array(seqLen * half, scale: 3)
        let cos = angles.map { Foundation.cos($0) }, sin = angles.map { Foundation.sin($0) }
        let x = rng.array(rows * heads * headDim), c = rng.array(x.count)
        func forward(_ x: [Float]) -> [Float] {
            var y = x
            TrainingOps.ropeForward(&y, rows: rows, seqLen: seqLen, heads: heads, headDim: headDim, cos: cos, sin: sin)
            return y
        }
        var dx = c
        TrainingOps.ropeBackward(&dx, rows: rows, seqLen: seqLen, heads: heads, headDim: headDim, cos: cos, sin: sin)
        assertGradient("dx", input: x, analytic: dx) { Self.dot(c, forward($0)) }
    }

    func testGatedActivations() {
        for activation in [Activation.silu, .geluTanh, .gelu] {
            var rng = Random(state: 6)
            let n = 12
            let gate = rng.array(n, scale: 3), up = rng.array(n), c = rng.array(n)
            func forward(_ gate: [Float], _ up: [Float]) -> [Float] {
                var out = [Float](repeating: 0, count: n)
                TrainingOps.gatedActivationForward(gate, up: up, count: n, activation: activation, into: &out)
                return out
            }
            var dgate = [Float](repeating: 0, count: n), dup = [Float](repeating: 0, count: n)
            TrainingOps.gatedActivationBackward(c, gate: gate, up: up, count: n, activation: activation,
                                                gateGradient: &dgate, upGradient: &dup)
            assertGradient("\(activation) dgate", input: gate, analytic: dgate) { Self.dot(c, forward($0, up)) }
            assertGradient("\(activation) dup", input: up, analytic: dup) { Self.dot(c, forward(gate, $0)) }
        }
        // The forwards are the published formulas (PyTorch's F.silu, gelu(approximate='tanh'), gelu).
        XCTAssertEqual(TrainingOps.activationValue(1, .silu), 0.7310586, accuracy: 1e-6)
        XCTAssertEqual(TrainingOps.activationValue(1, .geluTanh), 0.8411920, accuracy: 1e-6)
        XCTAssertEqual(TrainingOps.activationValue(1, .gelu), 0.8413447, accuracy: 1e-6)
    }

    func testEmbeddingScatterAddsRepeatedTokens() {
        var rng = Random(state: 7)
        let vocab = 5, width = 4, tokens = [1, 3, 1, 0], scale: Float = 2
        let table = rng.array(vocab * width), c = rng.array(tokens.count * width)
        func forward(_ table: [Float]) -> [Float] {
            var x = [Float](repeating: 0, count: tokens.count * width)
            TrainingOps.embeddingForward(tokens, table: table, width: width, scale: scale, into: &x)
            return x
        }
        var dtable = [Float](repeating: 0, count: table.count)
        TrainingOps.embeddingBackward(c, tokens: tokens, width: width, scale: scale, tableGradient: &dtable)
        assertGradient("dE", input: table, analytic: dtable) { Self.dot(c, forward($0)) }
        XCTAssertEqual(Array(dtable[(2 * width)..<(3 * width)]), [0, 0, 0, 0], "unused rows get no gradient")
    }

    func testCrossEntropyIgnoresNegativeTargets() {
        var rng = Random(state: 8)
        let vocab = 7, targets = [2, -100, 6, 2]
        let logits = rng.array(targets.count * vocab, scale: 3)
        func loss(_ logits: [Float]) -> Double {
            Double(TrainingOps.crossEntropyForward(logits, targets: targets, vocab: vocab).loss)
        }
        var dlogits = [Float](repeating: 9, count: logits.count)
        TrainingOps.crossEntropyBackward(logits, targets: targets, vocab: vocab, lossGradient: 1, into: &dlogits)
        assertGradient("dlogits", input: logits, analytic: dlogits, loss: loss)
        XCTAssertEqual(Array(dlogits[vocab..<(2 * vocab)]), [Float](repeating: 0, count: vocab))
        // By hand: the mean over the 3 counted rows of logsumexp − the target's logit.
        var expected = 0.0
        for (r, t) in targets.enumerated() where t >= 0 {
            let row = logits[(r * vocab)..<((r + 1) * vocab)].map(Double.init)
            expected += Foundation.log(row.map { Foundation.exp($0) }.reduce(0, +)) - row[row.startIndex + t]
        }
        XCTAssertEqual(loss(logits), expected / 3, accuracy: 1e-6)
        XCTAssertEqual(TrainingOps.crossEntropyForward(logits, targets: [-100, -100, -100, -100], vocab: vocab).count, 0)
    }

    func testAttentionGroupedQueryCausalAndSlidingWindow() {
        for window in [nil, 2] as [Int?] {
            var rng = Random(state: 9)
            let shape = AttentionShape(batch: 2, seqLen: 5, heads: 4, kvHeads: 2, headDim: 4, slidingWindow: window)
            let rows = shape.batch * shape.seqLen
            let q = rng.array(rows * shape.queryWidth, scale: 1.5), k = rng.array(rows * shape.kvWidth, scale: 1.5)
            let v = rng.array(rows * shape.kvWidth), c = rng.array(rows * shape.queryWidth)
            func forward(_ q: [Float], _ k: [Float], _ v: [Float]) -> (out: [Float], p: [Float]) {
                var out = [Float](repeating: 0, count: rows * shape.queryWidth)
                var p = [Float](repeating: 0, count: shape.probabilityCount)
                TrainingOps.attentionForward(q: q, k: k, v: v, shape: shape, probabilities: &p, into: &out)
                return (out, p)
            }
            let p = forward(q, k, v).p
            var scratch = [Float](repeating: 0, count: shape.seqLen * shape.seqLen)
            var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count)
            var dv = [Float](repeating: 0, count: v.count)
            TrainingOps.attentionBackward(c, q: q, k: k, v: v, probabilities: p, shape: shape, scratch: &scratch,
                                          queryGradient: &dq, keyGradient: &dk, valueGradient: &dv)
            let label = "window \(window.map(String.init) ?? "none")"
            assertGradient("\(label) dq", input: q, analytic: dq) { Self.dot(c, forward($0, k, v).out) }
            assertGradient("\(label) dk", input: k, analytic: dk) { Self.dot(c, forward(q, $0, v).out) }
            assertGradient("\(label) dv", input: v, analytic: dv) { Self.dot(c, forward(q, k, $0).out) }
            // The mask: row i of each head's probabilities is zero outside the visible keys and sums to 1.
            for i in 0..<shape.seqLen {
                let row = p[(i * shape.seqLen)..<((i + 1) * shape.seqLen)]
                let seen = shape.visible(i)
                for (j, value) in row.enumerated() where !seen.contains(j) { XCTAssertEqual(value, 0) }
                XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-6)
            }
        }
    }
}
