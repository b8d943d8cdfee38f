import Foundation

/// Everything the forward pass saves for the backward, for one decoder layer, sized for
/// rows = batch × seqLen once. Each is row-major [rows, width] unless stated.
final class LayerActivations {
    /// The layer's input (the residual stream before attention), [rows, hidden].
    let input: TrainingBuffer
    /// input_layernorm output and its per-row 1/rms.
    let attentionNorm: TrainingBuffer, attentionRstd: TrainingBuffer
    /// Projections after bias; q and k after RoPE (what attention consumed).
    let q: TrainingBuffer, k: TrainingBuffer, v: TrainingBuffer
    /// Softmax probabilities [batch, heads, seqLen, seqLen].
    let probabilities: TrainingBuffer
    /// Attention output before o_proj, [rows, heads·headDim].
    let attention: TrainingBuffer
    /// The residual stream after the attention block, [rows, hidden].
    let middle: TrainingBuffer
    let mlpNorm: TrainingBuffer, mlpRstd: TrainingBuffer
    /// gate_proj and up_proj outputs (pre-activation) and f(gate)·up, [rows, intermediate].
    let gate: TrainingBuffer, up: TrainingBuffer, activated: TrainingBuffer

    init(spec: ModelSpec, batch: Int, seqLen: Int) {
        let n = batch * seqLen, h = spec.hiddenSize, inter = spec.intermediateSize
        input = TrainingBuffer(count: n * h)
        attentionNorm = TrainingBuffer(count: n * h); attentionRstd = TrainingBuffer(count: n)
        q = TrainingBuffer(count: n * spec.queryWidth)
        k = TrainingBuffer(count: n * spec.kvWidth); v = TrainingBuffer(count: n * spec.kvWidth)
        probabilities = TrainingBuffer(count: batch * spec.headCount * seqLen * seqLen)
        attention = TrainingBuffer(count: n * spec.queryWidth)
        middle = TrainingBuffer(count: n * h)
        mlpNorm = TrainingBuffer(count: n * h); mlpRstd = TrainingBuffer(count: n)
        gate = TrainingBuffer(count: n * inter); up = TrainingBuffer(count: n * inter)
        activated = TrainingBuffer(count: n * inter)
    }

    var floatCount: Int {
        [input, attentionNorm, attentionRstd, q, k, v, probabilities, attention, middle, mlpNorm, mlpRstd,
         gate, up, activated].reduce(0) { $0 + $1.count }
    }
}

/// The saved activations of the whole model plus the activation-gradient scratch that the backward
/// reuses layer after layer (like llm.c, but one layer's worth of scratch instead of a full copy).
final class TrainingActivations {
    let layers: [LayerActivations]
    /// The last layer's output, the final norm's output and 1/rms, and the logits [rows, vocab].
    let output: TrainingBuffer, finalNorm: TrainingBuffer, finalRstd: TrainingBuffer, logits: TrainingBuffer

    // Gradients w.r.t. activations, reused by every layer.
    /// The residual stream's gradient, [rows, hidden].
    let dResidual: TrainingBuffer
    /// Gradient w.r.t. a norm's output, [rows, hidden].
    let dNorm: TrainingBuffer
    let dQ: TrainingBuffer, dK: TrainingBuffer, dV: TrainingBuffer, dAttention: TrainingBuffer
    /// One (sequence, head)'s dP / dS, [seqLen, seqLen].
    let dScores: TrainingBuffer
    let dGate: TrainingBuffer, dUp: TrainingBuffer, dActivated: TrainingBuffer
    let dLogits: TrainingBuffer

    init(spec: ModelSpec, batch: Int, seqLen: Int) {
        let n = batch * seqLen, h = spec.hiddenSize, inter = spec.intermediateSize
        layers = (0..<spec.layerCount).map { _ in LayerActivations(spec: spec, batch: batch, seqLen: seqLen) }
        output = TrainingBuffer(count: n * h)
        finalNorm = TrainingBuffer(count: n * h); finalRstd = TrainingBuffer(count: n)
        logits = TrainingBuffer(count: n * spec.vocabSize)
        dResidual = TrainingBuffer(count: n * h); dNorm = TrainingBuffer(count: n * h)
        dQ = TrainingBuffer(count: n * spec.queryWidth)
        dK = TrainingBuffer(count: n * spec.kvWidth); dV = TrainingBuffer(count: n * spec.kvWidth)
        dAttention = TrainingBuffer(count: n * spec.queryWidth)
        dScores = TrainingBuffer(count: seqLen * seqLen)
        dGate = TrainingBuffer(count: n * inter); dUp = TrainingBuffer(count: n * inter)
        dActivated = TrainingBuffer(count: n * inter)
        dLogits = TrainingBuffer(count: n * spec.vocabSize)
    }

    /// Floats held in total (saved activations and scratch), for memory estimates.
    var floatCount: Int {
        layers.reduce(0) { $0 + $1.floatCount }
            + [output, finalNorm, finalRstd, logits, dResidual, dNorm, dQ, dK, dV, dAttention, dScores,
               dGate, dUp, dActivated, dLogits].reduce(0) { $0 + $1.count }
    }
}

extension TrainingActivations {
    /// The floats `TrainingActivations(spec:batch:seqLen:)` would allocate, without allocating.
    static func floatCount(spec: ModelSpec, batch: Int, seqLen: Int) -> Int {
        let n = batch * seqLen, h = spec.hiddenSize, inter = spec.intermediateSize
        let q = spec.queryWidth, kv = spec.kvWidth
        let perLayer = n * h * 4 + n * 2 + n * q * 2 + n * kv * 2 + batch * spec.headCount * seqLen * seqLen + n * inter * 3
        let rest = n * h * 2 + n + n * spec.vocabSize * 2 + n * h * 2 + n * q * 2 + n * kv * 2 + seqLen * seqLen
            + n * inter * 3
        return spec.layerCount * perLayer + rest
    }
}
