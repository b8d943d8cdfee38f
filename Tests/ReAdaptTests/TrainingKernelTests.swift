import CKernels
import Foundation
import XCTest
@testable import ReAdapt

/// The AVX2 training kernels (Sources/CKernels/training_kernels.c) against their scalar references
/// (libm expf/tanhf), and the blocked, parallel attention against a plain Float64 reference at
/// sizes that cross several query blocks (the finite-difference tests use T = 5, one block).
final class TrainingKernelTests: XCTestCase {
    typealias Random = TrainingOpsTests.Random

    /// max |a − b| / max(1, |b|) over the arrays.
    func worst(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / max(1, abs($1.1))) }
    }

    func testLogSumExpAndScaledExpMatchScalar() {
        var rng = Random(state: 31)
        // 49152 logits (SmolLM2's vocabulary) plus a ragged tail, and a row with a huge spread.
        for (n, spread) in [(49_155, Float(12)), (13, 200), (1, 5)] {
            let x = rng.array(n, scale: spread)
            let fast = tk_logsumexp(x, n), reference = tk_logsumexp_scalar(x, n)
            XCTAssertEqual(fast, reference, accuracy: 2e-6 * max(1, abs(reference)), "n \(n)")
            var out = [Float](repeating: 0, count: n), ref = out
            tk_exp_scaled(x, &out, n, Float(fast), 0.5)
            tk_exp_scaled_scalar(x, &ref, n, Float(fast), 0.5)
            XCTAssertLessThanOrEqual(worst(out, ref), 1e-6, "n \(n)")
            // A probability distribution: exp(x − lse) sums to 1.
            XCTAssertEqual(out.reduce(0.0) { $0 + Double($1) } * 2, 1, accuracy: 1e-5)
        }
        // In place (the cross-entropy writes dlogits over the logits).
        var x = rng.array(100, scale: 4)
        let expected = x.map { Foundation.exp($0 - 1) * 2 }
        x.withUnsafeMutableBufferPointer { tk_exp_scaled($0.baseAddress!, $0.baseAddress!, 100, 1, 2) }
        XCTAssertLessThanOrEqual(worst(x, expected), 1e-6)
    }

    func testSoftmaxBackwardMatchesScalar() {
        var rng = Random(state: 32)
        for n in [1, 7, 8, 256, 261] {
            let p = rng.array(n).map { abs($0) }, dp = rng.array(n)
            var fast = dp, reference = dp
            tk_softmax_backward(p, &fast, n)
            tk_softmax_backward_scalar(p, &reference, n)
            XCTAssertLessThanOrEqual(worst(fast, reference), 1e-5, "n \(n)")
        }
    }

    func testGatedBackwardMatchesScalarAndSwift() {
        var rng = Random(state: 33)
        let n = 1003
        // Gates up to ±12 reach both saturations of sigmoid and tanh.
        let dout = rng.array(n), gate = rng.array(n, scale: 12), up = rng.array(n, scale: 2)
        for (kind, activation) in [(Int32(0), Activation.silu), (1, .geluTanh)] {
            var dg = [Float](repeating: 0, count: n), du = dg, rdg = dg, rdu = dg
            tk_gated_backward(dout, gate, up, &dg, &du, n, kind)
            tk_gated_backward_scalar(dout, gate, up, &rdg, &rdu, n, kind)
            XCTAssertLessThanOrEqual(worst(dg, rdg), 4e-6, "\(activation) dgate")  // tanh as 1 − 2/(e^{2u} + 1) loses ~1e-7 near u = 0, times |dout·up| ≤ 2
            XCTAssertLessThanOrEqual(worst(du, rdu), 2e-6, "\(activation) dup")
            // The scalar reference equals TrainingOps' Swift formula (the one the finite differences check).
            for i in 0..<n {
                let (f, df) = TrainingOps.activationValueAndSlope(gate[i], activation)
                XCTAssertEqual(rdu[i], dout[i] * f, accuracy: 1e-5 * max(1, abs(rdu[i])))
                XCTAssertEqual(rdg[i], dout[i] * up[i] * df, accuracy: 1e-5 * max(1, abs(rdg[i])))
            }
        }
    }

    func testRMSNormForwardAndBackwardMatchScalar() {
        var rng = Random(state: 34)
        let rows = 5
        for n in [576, 37] {
            for addsOne: Int32 in [0, 1] {
                let x = rng.array(rows * n, scale: 3), w = rng.array(n), dy = rng.array(rows * n)
                var y = [Float](repeating: 0, count: rows * n), ry = y
                var rstd = [Float](repeating: 0, count: rows), rrstd = rstd
                tk_rmsnorm_forward(x, w, &y, &rstd, rows, n, 1e-5, addsOne)
                tk_rmsnorm_forward_scalar(x, w, &ry, &rrstd, rows, n, 1e-5, addsOne)
                XCTAssertLessThanOrEqual(worst(y, ry), 1e-5)
                XCTAssertLessThanOrEqual(worst(rstd, rrstd), 1e-6)
                var dx = [Float](repeating: 0.25, count: rows * n), rdx = dx
                tk_rmsnorm_backward(dy, x, rstd, w, &dx, rows, n, addsOne)
                tk_rmsnorm_backward_scalar(dy, x, rstd, w, &rdx, rows, n, addsOne)
                XCTAssertLessThanOrEqual(worst(dx, rdx), 1e-5)
            }
        }
    }

    func testDropoutIsBitIdenticalToLoRAKernel() {
        var rng = Random(state: 36)
        let x = rng.array(1100)
        for start in [0, 1, 2, 3, 5, 1_000_003] {
            for count in [0, 1, 15, 16, 17, 33, 1000] {
                for threshold: UInt32 in [0, 3277, 32768, 65535] {
                    let key: UInt64 = 0x1234_5678_9ABC_DEF0 &+ UInt64(start * 31 + count)
                    var fast = [Float](repeating: -1, count: count), reference = fast
                    tk_dropout(x, &fast, start, count, key, threshold, 1.25)
                    ck_dropout(x, &reference, start, count, key, threshold, 1.25)
                    XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern),
                                   "start \(start) count \(count) threshold \(threshold)")
                }
            }
        }
        // In place, as the backward applies the mask to the gradient.
        var inPlace = Array(x[0..<1000])
        var expected = [Float](repeating: 0, count: 1000)
        ck_dropout(inPlace, &expected, 7, 1000, 99, 3277, 1 / 0.95)
        inPlace.withUnsafeMutableBufferPointer { tk_dropout($0.baseAddress!, $0.baseAddress!, 7, 1000, 99, 3277, 1 / 0.95) }
        XCTAssertEqual(inPlace.map(\.bitPattern), expected.map(\.bitPattern))
        // About 5% dropped at p = 0.05.
        let dropped = expected.filter { $0 == 0 }.count
        XCTAssert((25...80).contains(dropped), "\(dropped) of 1000 dropped")
    }

    // MARK: Attention across query blocks

    /// Float64 causal attention of one batch (same layouts as TrainingOps), forward and backward.
    static func referenceAttention(q: [Float], k: [Float], v: [Float], dout: [Float], shape s: AttentionShape)
        -> (out: [Float], dq: [Float], dk: [Float], dv: [Float]) {
        let t = s.seqLen, hd = s.headDim, qw = s.queryWidth, kvw = s.kvWidth, group = s.heads / s.kvHeads
        var out = [Float](repeating: 0, count: q.count), dq = out
        var dk = [Double](repeating: 0, count: k.count), dv = dk
        let scale = Double(s.scale)
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                let g = h / group
                func qi(_ i: Int, _ d: Int) -> Double { Double(q[(b * t + i) * qw + h * hd + d]) }
                func kj(_ j: Int, _ d: Int) -> Double { Double(k[(b * t + j) * kvw + g * hd + d]) }
                func vj(_ j: Int, _ d: Int) -> Double { Double(v[(b * t + j) * kvw + g * hd + d]) }
                for i in 0..<t {
                    let seen = Array(s.visible(i))
                    let scores = seen.map { j in scale * (0..<hd).reduce(0.0) { $0 + qi(i, $1) * kj(j, $1) } }
                    let m = scores.max()!
                    let e = scores.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                    let p = e.map { $0 / z }
                    let o = (b * t + i) * qw + h * hd
                    for d in 0..<hd { out[o + d] = Float(zip(seen, p).reduce(0.0) { $0 + $1.1 * vj($1.0, d) }) }
                    let dpv = seen.map { j in (0..<hd).reduce(0.0) { $0 + Double(dout[o + $1]) * vj(j, $1) } }
                    let dot = zip(p, dpv).reduce(0.0) { $0 + $1.0 * $1.1 }
                    let ds = zip(p, dpv).map { $0 * ($1 - dot) }
                    for (idx, j) in seen.enumerated() {
                        let kv = (b * t + j) * kvw + g * hd
                        for d in 0..<hd {
                            dq[o + d] += Float(scale * ds[idx] * kj(j, d))
                            dk[kv + d] += scale * ds[idx] * qi(i, d)
                            dv[kv + d] += p[idx] * Double(dout[o + d])
                        }
                    }
                }
            }
        }
        return (out, dq, dk.map(Float.init), dv.map(Float.init))
    }

    func testBlockedParallelAttentionMatchesReference() {
        // T = 150 spans three query blocks (64, 64, 22); the window 70 makes later blocks start
        // their keys after 0; GQA 6:2 puts three query heads on each KV head.
        for window in [nil, 70] as [Int?] {
            var rng = Random(state: 35)
            let s = AttentionShape(batch: 2, seqLen: 150, heads: 6, kvHeads: 2, headDim: 8, slidingWindow: window)
            let rows = s.batch * s.seqLen
            let q = rng.array(rows * s.queryWidth, scale: 2), k = rng.array(rows * s.kvWidth, scale: 2)
            let v = rng.array(rows * s.kvWidth), dout = rng.array(rows * s.queryWidth)
            var out = [Float](repeating: 0, count: q.count), p = [Float](repeating: 0, count: s.probabilityCount)
            TrainingOps.attentionForward(q: q, k: k, v: v, shape: s, probabilities: &p, into: &out)
            var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count)
            var dv = [Float](repeating: 0, count: v.count)
            TrainingOps.attentionBackward(dout, q: q, k: k, v: v, probabilities: p, shape: s,
                                          queryGradient: &dq, keyGradient: &dk, valueGradient: &dv)
            let ref = Self.referenceAttention(q: q, k: k, v: v, dout: dout, shape: s)
            let label = "window \(window.map(String.init) ?? "none")"
            XCTAssertLessThanOrEqual(worst(out, ref.out), 1e-5, "\(label) out")
            XCTAssertLessThanOrEqual(worst(dq, ref.dq), 1e-5, "\(label) dq")
            XCTAssertLessThanOrEqual(worst(dk, ref.dk), 1e-5, "\(label) dk")
            XCTAssertLessThanOrEqual(worst(dv, ref.dv), 1e-5, "\(label) dv")
            // Masked probabilities are exactly zero (the backward relies on it).
            for pair in 0..<(s.batch * s.heads) {
                for i in 0..<s.seqLen {
                    let seen = s.visible(i)
                    for j in 0..<s.seqLen where !seen.contains(j) {
                        XCTAssertEqual(p[(pair * s.seqLen + i) * s.seqLen + j], 0)
                    }
                }
            }
        }
    }

    func testProfilerChargesExclusiveTime() {
        TrainingProfiler.reset()
        TrainingProfiler.isEnabled = true
        defer { TrainingProfiler.isEnabled = false; TrainingProfiler.reset() }
        TrainingProfiler.measure(.loraExtra) {
            TrainingProfiler.measure(.linearForward, flops: 10) { usleep(20_000) }
        }
        TrainingProfiler.measure(.linearForward, flops: 6) {}
        let entries = Dictionary(uniqueKeysWithValues: TrainingProfiler.entries.map { ($0.category, $0) })
        // The nested 20 ms sleep is the linear's, not also the enclosing section's.
        XCTAssertEqual(entries[.loraExtra]?.calls, 1)
        XCTAssertLessThan(entries[.loraExtra]?.seconds ?? 1, 0.010)
        XCTAssertEqual(entries[.linearForward]?.calls, 2)
        XCTAssertGreaterThanOrEqual(entries[.linearForward]?.seconds ?? 0, 0.020)
        XCTAssertEqual(entries[.linearForward]?.flops, 16)
        TrainingProfiler.isEnabled = false
        TrainingProfiler.measure(.norm) {}
        XCTAssertNil(TrainingProfiler.entries.first { $0.category == .norm })
    }
}
