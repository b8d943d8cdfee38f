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

extension TrainingOps {
    /// Per (sequence, head): S = scale·Q·Kᵀ, P = softmax over the visible keys (saved in `probabilities`),
    /// O = P·V (written into `out`). Query head h reads KV head h / (heads / kvHeads).
    public static func attentionForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                        shape s: AttentionShape, probabilities: UnsafeMutablePointer<Float>,
                                        into out: UnsafeMutablePointer<Float>) {
        let t = s.seqLen, hd = s.headDim, qw = s.queryWidth, kvw = s.kvWidth, group = s.heads / s.kvHeads
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                let g = h / group
                let p = probabilities + (b * s.heads + h) * t * t
                let qh = q + b * t * qw + h * hd, kg = k + b * t * kvw + g * hd, vg = v + b * t * kvw + g * hd
                GEMM.sgemm(transA: false, transB: true, m: t, n: t, k: hd, alpha: s.scale,
                           a: qh, lda: qw, b: kg, ldb: kvw, beta: 0, c: p, ldc: t)
                for i in 0..<t {
                    let row = p + i * t, seen = s.visible(i)
                    var m = -Float.infinity
                    for j in seen { m = max(m, row[j]) }
                    var sum: Float = 0
                    for j in seen { row[j] = Foundation.exp(row[j] - m); sum += row[j] }
                    for j in seen { row[j] /= sum }
                    for j in 0..<t where !seen.contains(j) { row[j] = 0 }
                }
                GEMM.sgemm(transA: false, transB: false, m: t, n: hd, k: t,
                           a: p, lda: t, b: vg, ldb: kvw, beta: 0, c: out + b * t * qw + h * hd, ldc: qw)
            }
        }
    }

    /// Reverse of `attentionForward`: dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(P ⊙ dP)) (softmax backward;
    /// masked entries have P = 0 so they get no gradient); dQ = scale·dS·K (WRITTEN);
    /// dK += scale·dSᵀ·Q and dV += Pᵀ·dO (ACCUMULATED, since query heads of a group share K and V).
    /// `scratch` holds seqLen² floats.
    public static func attentionBackward(_ dout: UnsafePointer<Float>, q: UnsafePointer<Float>,
                                         k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                         probabilities: UnsafePointer<Float>, shape s: AttentionShape,
                                         scratch dp: UnsafeMutablePointer<Float>,
                                         queryGradient dq: UnsafeMutablePointer<Float>,
                                         keyGradient dk: UnsafeMutablePointer<Float>,
                                         valueGradient dv: UnsafeMutablePointer<Float>) {
        let t = s.seqLen, hd = s.headDim, qw = s.queryWidth, kvw = s.kvWidth, group = s.heads / s.kvHeads
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                let g = h / group
                let p = probabilities + (b * s.heads + h) * t * t
                let qOffset = b * t * qw + h * hd, kvOffset = b * t * kvw + g * hd
                let doh = dout + qOffset
                GEMM.sgemm(transA: false, transB: true, m: t, n: t, k: hd,
                           a: doh, lda: qw, b: v + kvOffset, ldb: kvw, beta: 0, c: dp, ldc: t)
                GEMM.sgemm(transA: true, transB: false, m: t, n: hd, k: t,
                           a: p, lda: t, b: doh, ldb: qw, beta: 1, c: dv + kvOffset, ldc: kvw)
                for i in 0..<t {
                    let pr = p + i * t, dr = dp + i * t
                    var dot: Float = 0
                    for j in 0..<t { dot += pr[j] * dr[j] }
                    for j in 0..<t { dr[j] = pr[j] * (dr[j] - dot) }
                }
                GEMM.sgemm(transA: false, transB: false, m: t, n: hd, k: t, alpha: s.scale,
                           a: dp, lda: t, b: k + kvOffset, ldb: kvw, beta: 0, c: dq + qOffset, ldc: qw)
                GEMM.sgemm(transA: true, transB: false, m: t, n: hd, k: t, alpha: s.scale,
                           a: dp, lda: t, b: q + qOffset, ldb: qw, beta: 1, c: dk + kvOffset, ldc: kvw)
            }
        }
    }
}
