import CKernels
import Foundation

/// The sizes and hyperparameters of one adapted linear layer y = x·Wᵀ + b, x [rows, in], y [rows, out].
public struct LoRAShape: Sendable, Equatable {
    public var rows: Int, inFeatures: Int, outFeatures: Int, rank: Int
    /// PEFT's `scaling` (alpha/r or alpha/√r).
    public var scale: Float
    /// Dropout probability on the adapter's input (0: none).
    public var dropout: Float

    public init(rows: Int, inFeatures: Int, outFeatures: Int, rank: Int, scale: Float, dropout: Float = 0) {
        self.rows = rows; self.inFeatures = inFeatures; self.outFeatures = outFeatures; self.rank = rank
        self.scale = scale; self.dropout = dropout
    }

    /// round(p·65536): a 16-bit draw below it is dropped.
    var dropoutThreshold: UInt32 { UInt32((Double(dropout) * 65536).rounded()) }
    var keepScale: Float { 1 / (1 - dropout) }
}

/// LoRA and DoRA as PEFT computes them, each forward paired with its backward (same conventions as
/// `TrainingOps`: parameter gradients ACCUMULATE, activation gradients as documented).
///
/// LoRA:  y = x·Wᵀ + b + scale·(x_d·Aᵀ)·Bᵀ with x_d = dropout(x), A [r, in], B [out, r].
/// DoRA:  with n_j = ‖W_j + scale·(B·A)_j‖ (row norm, DETACHED: a constant for the backward, as PEFT
///        and the DoRA paper do) and s = m / n,
///        y = x·Wᵀ + b + (s − 1)⊙(x_d·Wᵀ) + s⊙scale·(x_d·Aᵀ)·Bᵀ.
///        Without dropout x_d = x and this is b + s⊙(x·Wᵀ + scale·x·Aᵀ·Bᵀ).
public enum LoRAOps {

    // MARK: Dropout

    /// out = dropout(x) over rows·width values, the mask a pure function of `key` and the index.
    public static func dropout(_ x: UnsafePointer<Float>, count: Int, key: UInt64, shape: LoRAShape,
                               into out: UnsafeMutablePointer<Float>) {
        let threshold = shape.dropoutThreshold, scale = shape.keepScale
        TeamRows.run(count: (count + 4095) / 4096, workPerItem: 4096) { blocks in
            let start = blocks.lowerBound * 4096, end = min(count, blocks.upperBound * 4096)
            tk_dropout(x + start, out + start, start, end - start, key, threshold, scale)
        }
    }

    // MARK: LoRA

    /// u = x_d·Aᵀ (saved, [rows, r]); y += scale·u·Bᵀ (or y = scale·u·Bᵀ when not `accumulate`).
    public static func loraForward(_ xd: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                   shape s: LoRAShape, saveU u: UnsafeMutablePointer<Float>,
                                   output y: UnsafeMutablePointer<Float>, accumulate: Bool = true) {
        GEMM.sgemm(transA: false, transB: true, m: s.rows, n: s.rank, k: s.inFeatures,
                   a: xd, lda: s.inFeatures, b: a, ldb: s.inFeatures, beta: 0, c: u, ldc: s.rank)
        GEMM.sgemm(transA: false, transB: true, m: s.rows, n: s.outFeatures, k: s.rank, alpha: s.scale,
                   a: u, lda: s.rank, b: b, ldb: s.rank, beta: accumulate ? 1 : 0, c: y, ldc: s.outFeatures)
    }

    /// Given g = d(loss)/d(adapter output) [rows, out] (dy for LoRA, s⊙dy for DoRA):
    /// du = scale·g·B; dB += scale·gᵀ·u; dA += duᵀ·x_d; and dxd = du·A ([rows, in], WRITTEN, or
    /// ACCUMULATED with `accumulateInput`) — the gradient w.r.t. x_d, which the caller passes back
    /// through the dropout mask. `du` is scratch of rows·r floats.
    public static func loraBackward(_ g: UnsafePointer<Float>, xd: UnsafePointer<Float>, u: UnsafePointer<Float>,
                                    a: UnsafePointer<Float>, b: UnsafePointer<Float>, shape s: LoRAShape,
                                    aGradient: UnsafeMutablePointer<Float>, bGradient: UnsafeMutablePointer<Float>,
                                    du: UnsafeMutablePointer<Float>, xdGradient: UnsafeMutablePointer<Float>,
                                    accumulateInput: Bool = false) {
        GEMM.sgemm(transA: false, transB: false, m: s.rows, n: s.rank, k: s.outFeatures, alpha: s.scale,
                   a: g, lda: s.outFeatures, b: b, ldb: s.rank, beta: 0, c: du, ldc: s.rank)
        GEMM.sgemm(transA: true, transB: false, m: s.outFeatures, n: s.rank, k: s.rows, alpha: s.scale,
                   a: g, lda: s.outFeatures, b: u, ldb: s.rank, beta: 1, c: bGradient, ldc: s.rank)
        GEMM.sgemm(transA: true, transB: false, m: s.rank, n: s.inFeatures, k: s.rows,
                   a: du, lda: s.rank, b: xd, ldb: s.inFeatures, beta: 1, c: aGradient, ldc: s.inFeatures)
        GEMM.sgemm(transA: false, transB: false, m: s.rows, n: s.inFeatures, k: s.rank,
                   a: du, lda: s.rank, b: a, ldb: s.inFeatures, beta: accumulateInput ? 1 : 0, c: xdGradient,
                   ldc: s.inFeatures)
    }

    // MARK: DoRA

    /// n_j = ‖W_j + scale·(B·A)_j‖ for every output row j, and s_j = m_j / n_j. `scratch` holds
    /// out·in floats (B·A is formed explicitly, as PEFT does).
    public static func doraScales(weight w: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                  magnitude m: UnsafePointer<Float>, shape s: LoRAShape,
                                  scratch ba: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>,
                                  scales: UnsafeMutablePointer<Float>) {
        let inF = s.inFeatures
        GEMM.sgemm(transA: false, transB: false, m: s.outFeatures, n: inF, k: s.rank,
                   a: b, lda: s.rank, b: a, ldb: inF, beta: 0, c: ba, ldc: inF)
        TeamRows.run(count: s.outFeatures, workPerItem: 2 * inF) { rows in
            for j in rows {
                let wr = w + j * inF, br = ba + j * inF
                var sum: Float = 0
                for i in 0..<inF {
                    let v = wr[i] + s.scale * br[i]
                    sum += v * v
                }
                norms[j] = sum.squareRoot()
                scales[j] = m[j] / norms[j]
            }
        }
    }

    /// The DoRA output from the module's inputs. On entry `y` holds x·Wᵀ + b (the frozen layer's
    /// output) and `z` holds x_d·Wᵀ (no bias); `l` holds scale·u·Bᵀ (the LoRA term). On exit
    /// y = x·Wᵀ + b + (s − 1)⊙z + s⊙l and `pre` = z + l (saved for the magnitude's gradient).
    /// `z` and `pre` may be the same buffer.
    public static func doraCombine(y: UnsafeMutablePointer<Float>, z: UnsafePointer<Float>, l: UnsafePointer<Float>,
                                   scales: UnsafePointer<Float>, shape s: LoRAShape,
                                   savePre pre: UnsafeMutablePointer<Float>) {
        let out = s.outFeatures
        TeamRows.run(count: s.rows, workPerItem: 4 * out) { rows in
            for r in rows {
                let yr = y + r * out, zr = z + r * out, lr = l + r * out, pr = pre + r * out
                for j in 0..<out {
                    let zj = zr[j], lj = lr[j]
                    yr[j] += (scales[j] - 1) * zj + scales[j] * lj
                    pr[j] = zj + lj
                }
            }
        }
    }

    /// dm_j += Σ_rows dy_rj·pre_rj / n_j (the norm is a constant), and g = s⊙dy (WRITTEN), the
    /// gradient reaching both the LoRA term and — through (s − 1)⊙z + z — the x_d·Wᵀ path.
    public static func doraBackward(_ dy: UnsafePointer<Float>, pre: UnsafePointer<Float>,
                                    norms: UnsafePointer<Float>, scales: UnsafePointer<Float>, shape s: LoRAShape,
                                    magnitudeGradient dm: UnsafeMutablePointer<Float>,
                                    scaledGradient g: UnsafeMutablePointer<Float>) {
        let out = s.outFeatures
        TeamRows.run(count: s.rows, workPerItem: 2 * out) { rows in
            for r in rows {
                let dyr = dy + r * out, gr = g + r * out
                for j in 0..<out { gr[j] = scales[j] * dyr[j] }
            }
        }
        // Column sums over rows in blocks of 64 columns (threads never share a dm_j, and each row
        // reads 256 contiguous bytes); the order of the sum is fixed, whatever the thread count.
        let block = 64, blocks = (out + block - 1) / block
        TeamRows.run(count: blocks, workPerItem: 2 * s.rows * block) { range in
            var sums = [Float](repeating: 0, count: block)
            for bi in range {
                let lo = bi * block, width = min(block, out - lo)
                for j in 0..<width { sums[j] = 0 }
                for r in 0..<s.rows {
                    let dyr = dy + r * out + lo, pr = pre + r * out + lo
                    for j in 0..<width { sums[j] += dyr[j] * pr[j] }
                }
                for j in 0..<width { dm[lo + j] += sums[j] / norms[lo + j] }
            }
        }
    }

    // MARK: Elementwise helpers (row-parallel)

    /// y[i] -= x[i] for `count` values.
    static func subtract(_ x: UnsafePointer<Float>, from y: UnsafeMutablePointer<Float>, count: Int) {
        TeamRows.run(count: (count + 4095) / 4096, workPerItem: 4096) { blocks in
            for i in (blocks.lowerBound * 4096)..<min(count, blocks.upperBound * 4096) { y[i] -= x[i] }
        }
    }

    /// y[r, j] −= b[j] for every row.
    static func subtractBias(_ b: UnsafePointer<Float>, from y: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        TeamRows.run(count: rows, workPerItem: width) { range in
            for r in range {
                let yr = y + r * width
                for j in 0..<width { yr[j] -= b[j] }
            }
        }
    }
}
