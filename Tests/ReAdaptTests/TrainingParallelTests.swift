import Foundation
import XCTest
@testable import ReAdapt

/// The row-parallel ops (TeamRows, above 32K elements of work) give bitwise the same results as
/// the same op run one row at a time (always serial): rows are independent and every reduction
/// over rows is summed in row order. The small finite-difference and fixture tests never reach the
/// parallel path; these sizes do (on a machine with more than one core).
final class TrainingParallelTests: XCTestCase {
    let rows = 64, width = 1024

    func testRMSNormForwardAndBackward() {
        for addsOne in [false, true] {
            var rng = TrainingOpsTests.Random(state: 21)
            let x = rng.array(rows * width), w = rng.array(width), dy = rng.array(rows * width)
            var y = [Float](repeating: 0, count: x.count), rstd = [Float](repeating: 0, count: rows)
            TrainingOps.rmsNormForward(x, rows: rows, width: width, weight: w, eps: 1e-6, addsOne: addsOne,
                                       into: &y, rstd: &rstd)
            var dw = [Float](repeating: 0, count: width), dx = [Float](repeating: 0.5, count: x.count)
            TrainingOps.rmsNormBackward(dy, x: x, rstd: rstd, rows: rows, width: width, weight: w, addsOne: addsOne,
                                        weightGradient: &dw, inputGradient: &dx)
            var y1 = y, rstd1 = rstd, dw1 = [Float](repeating: 0, count: width)
            var dx1 = [Float](repeating: 0.5, count: x.count)
            for r in 0..<rows {
                let o = r * width
                x.withUnsafeBufferPointer { x in
                    y1.withUnsafeMutableBufferPointer { y1 in
                        rstd1.withUnsafeMutableBufferPointer { rs in
                            TrainingOps.rmsNormForward(x.baseAddress! + o, rows: 1, width: width, weight: w, eps: 1e-6,
                                                       addsOne: addsOne, into: y1.baseAddress! + o, rstd: rs.baseAddress! + r)
                        }
                    }
                }
                dy.withUnsafeBufferPointer { dy in
                    x.withUnsafeBufferPointer { x in
                        dx1.withUnsafeMutableBufferPointer { dx1 in
                            TrainingOps.rmsNormBackward(dy.baseAddress! + o, x: x.baseAddress! + o, rstd: Array(rstd1[r...r]),
                                                        rows: 1, width: width, weight: w, addsOne: addsOne,
                                                        weightGradient: &dw1, inputGradient: dx1.baseAddress! + o)
                        }
                    }
                }
            }
            XCTAssertEqual(y, y1)
            XCTAssertEqual(rstd, rstd1)
            XCTAssertEqual(dx, dx1)
            XCTAssertEqual(dw, dw1)
        }
    }

    func testRoPEAndGatedActivations() {
        var rng = TrainingOpsTests.Random(state: 22)
        let heads = 16, headDim = 64, seqLen = 16, half = headDim / 2
        let angles = rng.array(seqLen * half, scale: 3)
        let cos = angles.map { Foundation.cos($0) }, sin = angles.map { Foundation.sin($0) }
        let x = rng.array(rows * heads * headDim)
        var whole = x, perRow = x
        TrainingOps.ropeForward(&whole, rows: rows, seqLen: seqLen, heads: heads, headDim: headDim, cos: cos, sin: sin)
        TrainingOps.ropeBackward(&whole, rows: rows, seqLen: seqLen, heads: heads, headDim: headDim, cos: cos, sin: sin)
        perRow.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                let c = Array(cos[((r % seqLen) * half)...].prefix(half)), s = Array(sin[((r % seqLen) * half)...].prefix(half))
                TrainingOps.ropeForward(p.baseAddress! + r * heads * headDim, rows: 1, seqLen: 1, heads: heads,
                                        headDim: headDim, cos: c, sin: s)
                TrainingOps.ropeBackward(p.baseAddress! + r * heads * headDim, rows: 1, seqLen: 1, heads: heads,
                                         headDim: headDim, cos: c, sin: s)
            }
        }
        XCTAssertEqual(whole, perRow)
        for (a, b) in zip(whole, x) { XCTAssertEqual(a, b, accuracy: 1e-5, "RoPE backward undoes the forward") }

        let n = rows * width, chunk = 1000
        let gate = rng.array(n, scale: 3), up = rng.array(n), dout = rng.array(n)
        for activation in [Activation.silu, .geluTanh] {
            var out = [Float](repeating: 0, count: n), dg = out, du = out
            TrainingOps.gatedActivationForward(gate, up: up, count: n, activation: activation, into: &out)
            TrainingOps.gatedActivationBackward(dout, gate: gate, up: up, count: n, activation: activation,
                                                gateGradient: &dg, upGradient: &du)
            for start in stride(from: 0, to: n, by: chunk) {
                let m = min(chunk, n - start)
                let g = Array(gate[start..<(start + m)]), u = Array(up[start..<(start + m)])
                var o = [Float](repeating: 0, count: m), dg1 = o, du1 = o
                TrainingOps.gatedActivationForward(g, up: u, count: m, activation: activation, into: &o)
                TrainingOps.gatedActivationBackward(Array(dout[start..<(start + m)]), gate: g, up: u, count: m,
                                                    activation: activation, gateGradient: &dg1, upGradient: &du1)
                XCTAssertEqual(Array(out[start..<(start + m)]), o)
                XCTAssertEqual(Array(dg[start..<(start + m)]), dg1)
                XCTAssertEqual(Array(du[start..<(start + m)]), du1)
            }
        }
    }

    func testCrossEntropy() {
        var rng = TrainingOpsTests.Random(state: 23)
        let vocab = 2000
        let logits = rng.array(rows * vocab, scale: 4)
        let targets = (0..<rows).map { $0 % 5 == 3 ? -100 : ($0 * 37) % vocab }
        let (loss, count) = TrainingOps.crossEntropyForward(logits, targets: targets, vocab: vocab)
        var d = [Float](repeating: 0, count: logits.count)
        TrainingOps.crossEntropyBackward(logits, targets: targets, vocab: vocab, lossGradient: 1, into: &d)
        var total = 0.0
        for r in 0..<rows where targets[r] >= 0 {
            let row = Array(logits[(r * vocab)..<((r + 1) * vocab)])
            total += Double(TrainingOps.crossEntropyForward(row, targets: [targets[r]], vocab: vocab).loss)
            var d1 = [Float](repeating: 0, count: vocab)
            TrainingOps.crossEntropyBackward(row, targets: [targets[r]], vocab: vocab, lossGradient: 1 / Float(count),
                                             into: &d1)
            for (a, b) in zip(d[(r * vocab)..<((r + 1) * vocab)], d1) { XCTAssertEqual(a, b, accuracy: 1e-9) }
        }
        XCTAssertEqual(count, rows - rows / 5 - (rows % 5 > 3 ? 1 : 0))
        XCTAssertEqual(Double(loss), total / Double(count), accuracy: 1e-5)
    }
}
