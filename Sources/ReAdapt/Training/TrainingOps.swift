import CKernels
import Foundation

/// The operations of the Llama-family forward pass, each paired with its backward, in the style of
/// llm.c: plain functions over row-major F32 pointers. `xBackward` reads as `xForward` in reverse
/// and ACCUMULATES (+=) into parameter gradients; activation gradients are written or accumulated
/// as each function's comment says. `rows` is batch × sequence length.
public enum TrainingOps {

    // MARK: Linear: y = x·Wᵀ + b, W is [out, in] (PyTorch's nn.Linear layout)

    public static func linearForward(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                                     weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                     outFeatures: Int, into y: UnsafeMutablePointer<Float>) {
        TrainingProfiler.measure(.linearForward, flops: 2 * Double(rows * inFeatures * outFeatures)) {
            GEMM.sgemm(transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
                       a: x, lda: inFeatures, b: weight, ldb: inFeatures, beta: 0, c: y, ldc: outFeatures)
        }
        if let bias {
            TrainingProfiler.measure(.bias) {
                TeamRows.run(count: rows, workPerItem: outFeatures) { range in
                    for r in range {
                        let row = y + r * outFeatures
                        for j in 0..<outFeatures { row[j] += bias[j] }
                    }
                }
            }
        }
    }

    /// dW += dyᵀ·x, db += Σ_rows dy, and dx = dy·W (or dx += dy·W when `accumulateInput`).
    /// A nil gradient is not computed (a frozen weight or bias costs only the dx GEMM).
    public static func linearBackward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
                                      inFeatures: Int, weight: UnsafePointer<Float>, outFeatures: Int,
                                      weightGradient: UnsafeMutablePointer<Float>?,
                                      biasGradient: UnsafeMutablePointer<Float>?,
                                      inputGradient dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool) {
        let flops = 2 * Double(rows * inFeatures * outFeatures)
        if let weightGradient {
            TrainingProfiler.measure(.linearWeightGradient, flops: flops) {
                GEMM.sgemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: rows,
                           a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: weightGradient, ldc: inFeatures)
            }
        }
        if let biasGradient {
            TrainingProfiler.measure(.bias) {
                for r in 0..<rows {
                    let row = dy + r * outFeatures
                    for j in 0..<outFeatures { biasGradient[j] += row[j] }
                }
            }
        }
        if let dx {
            TrainingProfiler.measure(.linearInputGradient, flops: flops) {
                GEMM.sgemm(transA: false, transB: false, m: rows, n: inFeatures, k: outFeatures,
                           a: dy, lda: outFeatures, b: weight, ldb: inFeatures, beta: accumulateInput ? 1 : 0,
                           c: dx, ldc: inFeatures)
            }
        }
    }

    // MARK: Residual add

    /// y += x over `count` values (the residual connections), SIMD and split over the BLAS's threads.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        TrainingProfiler.measure(.residual) { addUnprofiled(x, into: y, count: count) }
    }

    /// `add` without a profiler section, for callers that charge the time to their own (LoRA).
    static func addUnprofiled(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        TeamRows.run(count: (count + 4095) / 4096, workPerItem: 4096) { blocks in
            let start = blocks.lowerBound * 4096, end = min(count, blocks.upperBound * 4096)
            mk_add(y + start, x + start, end - start)
        }
    }

    // MARK: RMSNorm: y = x·rstd·w' with rstd = 1/sqrt(mean(x²) + eps), w' = w or 1 + w (Gemma)

    /// Writes y [rows, n] and rstd [rows] (saved for the backward).
    public static func rmsNormForward(_ x: UnsafePointer<Float>, rows: Int, width n: Int,
                                      weight: UnsafePointer<Float>, eps: Float, addsOne: Bool,
                                      into y: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        TrainingProfiler.measure(.norm) {
            TeamRows.run(count: rows, workPerItem: 2 * n) { range in
                tk_rmsnorm_forward(x + range.lowerBound * n, weight, y + range.lowerBound * n, rstd + range.lowerBound,
                                   range.count, n, eps, addsOne ? 1 : 0)
            }
        }
    }

    /// With x̂ = x·rstd and g = dy·w': dw += Σ_rows dy·x̂, dx += rstd·(g − x̂·mean(g·x̂)).
    /// dx is ACCUMULATED (it is the residual stream's gradient); a nil dw is skipped (frozen).
    public static func rmsNormBackward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                       rstd: UnsafePointer<Float>, rows: Int, width n: Int,
                                       weight: UnsafePointer<Float>, addsOne: Bool,
                                       weightGradient: UnsafeMutablePointer<Float>?,
                                       inputGradient dx: UnsafeMutablePointer<Float>) {
        TrainingProfiler.measure(.norm) {
            // Rows in parallel for dx; dw is a sum over rows, so it is a separate serial pass.
            TeamRows.run(count: rows, workPerItem: 4 * n) { range in
                let o = range.lowerBound * n
                tk_rmsnorm_backward(dy + o, x + o, rstd + range.lowerBound, weight, dx + o, range.count, n,
                                    addsOne ? 1 : 0)
            }
            guard let weightGradient else { return }  // frozen norm
            for r in 0..<rows {
                let xr = x + r * n, dyr = dy + r * n, s = rstd[r]
                for i in 0..<n { weightGradient[i] += dyr[i] * xr[i] * s }
            }
        }
    }

    // MARK: RoPE (rotate_half layout), in place on `heads` heads per row

    /// x1 = x[i], x2 = x[i + half]: x[i] = x1·cos − x2·sin, x[i + half] = x2·cos + x1·sin.
    /// cos/sin are [seqLen, headDim/2]; row r is at position r % seqLen.
    public static func ropeForward(_ x: UnsafeMutablePointer<Float>, rows: Int, seqLen: Int, heads: Int,
                                   headDim: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        rotate(x, rows: rows, seqLen: seqLen, heads: heads, headDim: headDim, cos: cos, sin: sin, sign: 1)
    }

    /// The rotation is orthogonal, so the backward is the rotation by −angle, in place on dx.
    public static func ropeBackward(_ dx: UnsafeMutablePointer<Float>, rows: Int, seqLen: Int, heads: Int,
                                    headDim: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        rotate(dx, rows: rows, seqLen: seqLen, heads: heads, headDim: headDim, cos: cos, sin: sin, sign: -1)
    }

    private static func rotate(_ x: UnsafeMutablePointer<Float>, rows: Int, seqLen: Int, heads: Int,
                               headDim: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, sign: Float) {
        let half = headDim / 2
        TrainingProfiler.measure(.rope) {
        TeamRows.run(count: rows, workPerItem: 2 * heads * headDim) { range in
            for r in range {
                let c = cos + (r % seqLen) * half, s = sin + (r % seqLen) * half
                for h in 0..<heads {
                    let v = x + (r * heads + h) * headDim
                    for i in 0..<half {
                        let x1 = v[i], x2 = v[i + half], si = sign * s[i]
                        v[i] = x1 * c[i] - x2 * si
                        v[i + half] = x2 * c[i] + x1 * si
                    }
                }
            }
        }
        }
    }

    // MARK: Gated activation: out = f(gate)·up, f = SiLU, GELU-tanh or GELU-erf

    public static func gatedActivationForward(_ gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                              count: Int, activation: Activation,
                                              into out: UnsafeMutablePointer<Float>) {
        TrainingProfiler.measure(.activation) {
            TeamRows.run(count: count, workPerItem: 16) { range in
                let o = range.lowerBound, n = range.count
                switch activation {
                case .silu: mk_silu_mul(gate + o, up + o, out + o, n)
                case .geluTanh: mk_gelu_tanh_mul(gate + o, up + o, out + o, n)
                case .gelu: for i in range { out[i] = activationValue(gate[i], activation) * up[i] }
                }
            }
        }
    }

    /// dgate = dout·up·f'(gate), dup = dout·f(gate) (both WRITTEN).
    public static func gatedActivationBackward(_ dout: UnsafePointer<Float>, gate: UnsafePointer<Float>,
                                               up: UnsafePointer<Float>, count: Int, activation: Activation,
                                               gateGradient: UnsafeMutablePointer<Float>,
                                               upGradient: UnsafeMutablePointer<Float>) {
        TrainingProfiler.measure(.activation) {
            TeamRows.run(count: count, workPerItem: 16) { range in
                let o = range.lowerBound
                switch activation {
                case .silu, .geluTanh:
                    tk_gated_backward(dout + o, gate + o, up + o, gateGradient + o, upGradient + o, range.count,
                                      activation == .silu ? 0 : 1)
                case .gelu:
                    for i in range {
                        let (f, df) = activationValueAndSlope(gate[i], activation)
                        gateGradient[i] = dout[i] * up[i] * df
                        upGradient[i] = dout[i] * f
                    }
                }
            }
        }
    }

    static func activationValue(_ x: Float, _ activation: Activation) -> Float {
        switch activation {
        case .silu: return x / (1 + Foundation.exp(-x))
        case .geluTanh:
            let u = geluTanhScale * (x + 0.044715 * x * x * x)
            return 0.5 * x * (1 + Foundation.tanh(u))
        case .gelu: return 0.5 * x * (1 + Foundation.erf(x / Float(2).squareRoot()))
        }
    }

    private static let geluTanhScale = Float((2 / Double.pi).squareRoot())

    static func activationValueAndSlope(_ x: Float, _ activation: Activation) -> (Float, Float) {
        switch activation {
        case .silu:
            // d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x)))
            let s = 1 / (1 + Foundation.exp(-x))
            return (x * s, s * (1 + x * (1 - s)))
        case .geluTanh:
            // d/dx ½x(1 + tanh u) = ½(1 + tanh u) + ½x(1 − tanh²u)·u', u' = √(2/π)(1 + 3·0.044715x²)
            let u = geluTanhScale * (x + 0.044715 * x * x * x)
            let t = Foundation.tanh(u)
            let du = geluTanhScale * (1 + 3 * 0.044715 * x * x)
            return (0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        case .gelu:
            // d/dx ½x(1 + erf(x/√2)) = Φ(x) + x·φ(x)
            let cdf = 0.5 * (1 + Foundation.erf(x / Float(2).squareRoot()))
            let pdf = Foundation.exp(-0.5 * x * x) / Float(2 * Double.pi).squareRoot()
            return (x * cdf, cdf + x * pdf)
        }
    }

    // MARK: Embedding: x[r] = E[token_r]·scale

    public static func embeddingForward(_ tokens: [Int], table: UnsafePointer<Float>, width: Int, scale: Float,
                                        into x: UnsafeMutablePointer<Float>) {
        TrainingProfiler.measure(.embedding) {
            tokens.withUnsafeBufferPointer { tokens in
                TeamRows.run(count: tokens.count, workPerItem: width) { range in
                    for r in range {
                        let src = table + tokens[r] * width, dst = x + r * width
                        for i in 0..<width { dst[i] = src[i] * scale }
                    }
                }
            }
        }
    }

    /// dE[token_r] += scale·dx[r] (a scatter-add: repeated tokens sum).
    public static func embeddingBackward(_ dx: UnsafePointer<Float>, tokens: [Int], width: Int, scale: Float,
                                         tableGradient: UnsafeMutablePointer<Float>) {
        TrainingProfiler.measure(.embedding) {
            for (r, t) in tokens.enumerated() {
                let src = dx + r * width, dst = tableGradient + t * width
                for i in 0..<width { dst[i] += src[i] * scale }
            }
        }
    }

    // MARK: Cross-entropy over the vocabulary, ignoring targets < 0 (PyTorch's ignore_index -100)

    /// Mean over the rows whose target is ≥ 0 of logsumexp(logits) − logits[target]: exp in F32
    /// (AVX2), each row's sum and the mean in Float64 (PyTorch's mean over non-ignored targets).
    /// Returns the loss and the number of counted rows; with no counted row the loss is 0 (PyTorch
    /// returns NaN) and the gradient is zero.
    public static func crossEntropyForward(_ logits: UnsafePointer<Float>, targets: [Int], vocab: Int)
        -> (loss: Float, count: Int) {
        TrainingProfiler.measure(.crossEntropy) {
            // Rows in parallel into per-row losses, summed in row order (the same sum as serially).
            let perRow = UnsafeMutablePointer<Double>.allocate(capacity: max(targets.count, 1))
            defer { perRow.deallocate() }
            targets.withUnsafeBufferPointer { t in
                TeamRows.run(count: t.count, workPerItem: 2 * vocab) { range in
                    for r in range {
                        perRow[r] = t[r] >= 0 ? tk_logsumexp(logits + r * vocab, vocab) - Double(logits[r * vocab + t[r]]) : 0
                    }
                }
            }
            var total = 0.0, count = 0
            for (r, t) in targets.enumerated() where t >= 0 {
                total += perRow[r]
                count += 1
            }
            return (count == 0 ? 0 : Float(total / Double(count)), count)
        }
    }

    /// dlogits = (softmax(logits) − onehot(target))·dloss/count for counted rows, 0 for ignored rows
    /// (WRITTEN). `dlogits` may be `logits` itself: each row's logsumexp is taken before the row is
    /// overwritten, so the logits buffer can double as its gradient (saving rows × vocab floats).
    public static func crossEntropyBackward(_ logits: UnsafePointer<Float>, targets: [Int], vocab: Int,
                                            lossGradient: Float, into dlogits: UnsafeMutablePointer<Float>) {
        TrainingProfiler.measure(.crossEntropy) {
            let count = targets.filter { $0 >= 0 }.count
            let scale = count == 0 ? 0 : lossGradient / Float(count)
            targets.withUnsafeBufferPointer { targets in
                TeamRows.run(count: targets.count, workPerItem: 3 * vocab) { range in
                    for r in range {
                        let row = logits + r * vocab, d = dlogits + r * vocab, t = targets[r]
                        guard t >= 0 else { d.update(repeating: 0, count: vocab); continue }
                        let lse = Float(tk_logsumexp(row, vocab))
                        tk_exp_scaled(row, d, vocab, lse, scale)
                        d[t] -= scale
                    }
                }
            }
        }
    }
}
