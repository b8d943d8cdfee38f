import CKernels
import Foundation

/// The shape of causal grouped-query attention over a batch of equal-length sequences.
/// q and its gradient are [batch, seqLen, heads·headDim]; k, v and theirs [batch, seqLen, kvHeads·headDim];
/// the saved probabilities are [batch, heads, seqLen, seqLen] with masked entries exactly 0.
public struct AttentionShape: Sendable, Equatable {
    public var batch: Int
    public var seqLen: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    /// Keys older than this many positions are masked (Mistral); nil: plain causal.
    public var slidingWindow: Int?

    public init(batch: Int, seqLen: Int, heads: Int, kvHeads: Int, headDim: Int, slidingWindow: Int? = nil) {
        self.batch = batch; self.seqLen = seqLen; self.heads = heads; self.kvHeads = kvHeads
        self.headDim = headDim; self.slidingWindow = slidingWindow
    }

    var queryWidth: Int { heads * headDim }
    var kvWidth: Int { kvHeads * headDim }
    var probabilityCount: Int { batch * heads * seqLen * seqLen }
    /// Softmax scale 1/√headDim (transformers' `scaling = head_dim**-0.5`).
    var scale: Float { 1 / Float(headDim).squareRoot() }

    /// The keys query position i sees: lo...i.
    func visible(_ i: Int) -> ClosedRange<Int> {
        (slidingWindow.map { max(0, i - $0 + 1) } ?? 0)...i
    }
}

extension AttentionShape {
    /// Query rows are processed in blocks of this many: block [i0, i1) only multiplies with the
    /// keys lo(i0)..<i1, so the causal upper triangle (and, with a window, keys too old for every
    /// row of the block) costs no GEMM work — about 40% of the products for T = 256.
    static let queryBlock = 64

    /// The key range block [i0, i1) needs: from the first key row i0 sees to i1.
    func keyRange(_ i0: Int, _ i1: Int) -> Range<Int> { visible(i0).lowerBound..<i1 }

    /// Multiply-adds of one QKᵀ (or PV) product over all (sequence, head) pairs, counting only the
    /// visible (query, key) pairs: the useful FLOPs of the attention forward are 4·this·headDim.
    var visiblePairs: Double {
        Double(batch * heads) * (0..<seqLen).reduce(0.0) { $0 + Double(visible($1).count) }
    }
}

extension TrainingOps {
    /// Per (sequence, head): S = scale·Q·Kᵀ, P = softmax over the visible keys (saved in `probabilities`),
    /// O = P·V (written into `out`). Query head h reads KV head h / (heads / kvHeads).
    /// The (sequence, head) pairs run in parallel on the BLAS's threads (each pair's products on one
    /// thread), and each pair skips the causal upper triangle block by block (`queryBlock`).
    public static func attentionForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                        shape s: AttentionShape, probabilities: UnsafeMutablePointer<Float>,
                                        into out: UnsafeMutablePointer<Float>) {
        let t = s.seqLen, hd = s.headDim, qw = s.queryWidth, kvw = s.kvWidth, group = s.heads / s.kvHeads
        TrainingProfiler.measure(.attentionForward, flops: 4 * s.visiblePairs * Double(hd)) {
            TeamRows.run(count: s.batch * s.heads, workPerItem: 4 * t * t * hd) { range in
                GEMM.$threadLimit.withValue(1) {
                    for pair in range {
                        let b = pair / s.heads, h = pair % s.heads, g = h / group
                        let p = probabilities + pair * t * t
                        let qh = q + b * t * qw + h * hd, kg = k + b * t * kvw + g * hd, vg = v + b * t * kvw + g * hd
                        for i0 in stride(from: 0, to: t, by: AttentionShape.queryBlock) {
                            let i1 = min(t, i0 + AttentionShape.queryBlock), keys = s.keyRange(i0, i1)
                            let pb = p + i0 * t + keys.lowerBound
                            GEMM.sgemm(transA: false, transB: true, m: i1 - i0, n: keys.count, k: hd, alpha: s.scale,
                                       a: qh + i0 * qw, lda: qw, b: kg + keys.lowerBound * kvw, ldb: kvw, beta: 0,
                                       c: pb, ldc: t)
                            for i in i0..<i1 {
                                let row = p + i * t, seen = s.visible(i)
                                mk_softmax(row + seen.lowerBound, seen.count)
                                if seen.lowerBound > 0 { row.update(repeating: 0, count: seen.lowerBound) }
                                if i + 1 < t { (row + i + 1).update(repeating: 0, count: t - i - 1) }
                            }
                            GEMM.sgemm(transA: false, transB: false, m: i1 - i0, n: hd, k: keys.count,
                                       a: pb, lda: t, b: vg + keys.lowerBound * kvw, ldb: kvw, beta: 0,
                                       c: out + (b * t + i0) * qw + h * hd, ldc: qw)
                        }
                    }
                }
            }
        }
    }

    /// Reverse of `attentionForward`: dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(P ⊙ dP)) (softmax backward;
    /// masked entries have P = 0 so they get no gradient); dQ = scale·dS·K (WRITTEN);
    /// dK += scale·dSᵀ·Q and dV += Pᵀ·dO (ACCUMULATED, since query heads of a group share K and V).
    /// Runs the (sequence, KV head) pairs in parallel — a KV head's query heads stay on one thread,
    /// so dK/dV need no locking — with each thread's dP block in its own scratch (allocated here,
    /// queryBlock × seqLen floats per thread). `scratch` (seqLen² floats) is no longer needed and is
    /// kept only so existing callers compile.
    public static func attentionBackward(_ dout: UnsafePointer<Float>, q: UnsafePointer<Float>,
                                         k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                         probabilities: UnsafePointer<Float>, shape s: AttentionShape,
                                         scratch _: UnsafeMutablePointer<Float>? = nil,
                                         queryGradient dq: UnsafeMutablePointer<Float>,
                                         keyGradient dk: UnsafeMutablePointer<Float>,
                                         valueGradient dv: UnsafeMutablePointer<Float>) {
        let t = s.seqLen, hd = s.headDim, qw = s.queryWidth, kvw = s.kvWidth, group = s.heads / s.kvHeads
        TrainingProfiler.measure(.attentionBackward, flops: 8 * s.visiblePairs * Double(hd)) {
            TeamRows.run(count: s.batch * s.kvHeads, workPerItem: 8 * group * t * t * hd) { range in
                let dp = UnsafeMutablePointer<Float>.allocate(capacity: AttentionShape.queryBlock * t)
                defer { dp.deallocate() }
                GEMM.$threadLimit.withValue(1) {
                    for pair in range {
                        let b = pair / s.kvHeads, g = pair % s.kvHeads, kvOffset = b * t * kvw + g * hd
                        for h in (g * group)..<((g + 1) * group) {
                            let p = probabilities + (b * s.heads + h) * t * t, qOffset = b * t * qw + h * hd
                            for i0 in stride(from: 0, to: t, by: AttentionShape.queryBlock) {
                                let i1 = min(t, i0 + AttentionShape.queryBlock), keys = s.keyRange(i0, i1)
                                let m = i1 - i0, lo = keys.lowerBound
                                let pb = p + i0 * t + lo, doh = dout + qOffset + i0 * qw
                                // dP block [m, keys] (row stride t in scratch, columns from lo).
                                GEMM.sgemm(transA: false, transB: true, m: m, n: keys.count, k: hd,
                                           a: doh, lda: qw, b: v + kvOffset + lo * kvw, ldb: kvw, beta: 0, c: dp, ldc: t)
                                GEMM.sgemm(transA: true, transB: false, m: keys.count, n: hd, k: m,
                                           a: pb, lda: t, b: doh, ldb: qw, beta: 1, c: dv + kvOffset + lo * kvw, ldc: kvw)
                                for i in i0..<i1 {
                                    let seen = s.visible(i)
                                    tk_softmax_backward(p + i * t + seen.lowerBound, dp + (i - i0) * t + (seen.lowerBound - lo),
                                                        seen.count)
                                    // Keys in the block's range that row i does not see: P = 0, so dS = 0.
                                    let row = dp + (i - i0) * t
                                    if seen.lowerBound > lo { row.update(repeating: 0, count: seen.lowerBound - lo) }
                                    if i + 1 < i1 { (row + (i + 1 - lo)).update(repeating: 0, count: i1 - i - 1) }
                                }
                                GEMM.sgemm(transA: false, transB: false, m: m, n: hd, k: keys.count, alpha: s.scale,
                                           a: dp, lda: t, b: k + kvOffset + lo * kvw, ldb: kvw, beta: 0,
                                           c: dq + qOffset + i0 * qw, ldc: qw)
                                GEMM.sgemm(transA: true, transB: false, m: keys.count, n: hd, k: m, alpha: s.scale,
                                           a: dp, lda: t, b: q + qOffset + i0 * qw, ldb: qw, beta: 1,
                                           c: dk + kvOffset + lo * kvw, ldc: kvw)
                            }
                        }
                    }
                }
            }
        }
    }
}
