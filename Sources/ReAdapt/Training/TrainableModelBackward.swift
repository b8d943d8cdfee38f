import Foundation

extension TrainableModel {
    /// Accumulates d(loss)/d(parameter) of the last forward pass into `gradients`: the forward
    /// pass read in reverse, each op's backward taking the gradient of its output and adding to the
    /// gradients of its parameters and inputs. The residual stream's gradient is carried in
    /// `dResidual`; every norm adds its input gradient to it, which is how the skip connections'
    /// identity paths are summed.
    public func backward() throws {
        guard let targets else { throw TrainingError.backwardWithoutLoss }
        let p = parameters.pointer, a = activations
        let n = batchSize * sequenceLength, h = spec.hiddenSize, vocab = spec.vocabSize
        // The base's gradient at an offset, or nil when the base is frozen (LoRA/DoRA).
        let base: UnsafeMutablePointer<Float>? = lora == nil ? gradients.pointer : nil
        func g(_ offset: Int) -> UnsafeMutablePointer<Float>? { base.map { $0 + offset } }

        TrainingOps.crossEntropyBackward(a.logits.pointer, targets: targets, vocab: vocab, lossGradient: 1,
                                         into: a.dLogits.pointer)
        // Head (tied: its gradient slot is the embedding's, so both uses sum there).
        TrainingOps.linearBackward(a.dLogits.pointer, x: a.finalNorm.pointer, rows: n, inFeatures: h,
                                   weight: p + layout.head, outFeatures: vocab, weightGradient: g(layout.head),
                                   biasGradient: nil, inputGradient: a.dNorm.pointer, accumulateInput: false)
        a.dResidual.zero()
        TrainingOps.rmsNormBackward(a.dNorm.pointer, x: a.output.pointer, rstd: a.finalRstd.pointer, rows: n,
                                    width: h, weight: p + layout.finalNorm, addsOne: spec.normAddsOne,
                                    weightGradient: g(layout.finalNorm), inputGradient: a.dResidual.pointer)
        for l in stride(from: spec.layerCount - 1, through: 0, by: -1) { layerBackward(l) }
        if let table = g(layout.embedding) {
            TrainingOps.embeddingBackward(a.dResidual.pointer, tokens: tokens, width: h, scale: spec.embeddingScale,
                                          tableGradient: table)
        }
    }

    /// On entry dResidual is d(loss)/d(layer output); on exit d(loss)/d(layer input).
    private func layerBackward(_ l: Int) {
        let s = spec, w = layout.layers[l], p = parameters.pointer
        let a = activations.layers[l], d = activations
        let n = batchSize * sequenceLength, h = s.hiddenSize
        let base: UnsafeMutablePointer<Float>? = lora == nil ? gradients.pointer : nil
        func g(_ offset: Int?) -> UnsafeMutablePointer<Float>? { offset.flatMap { o in base.map { $0 + o } } }
        func linear(_ module: LoRATargetModule, _ dy: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>,
                    weight: Int, bias: Int?, dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
            adaptedLinearBackward(l, module, dy: dy, input: x, weight: weight, weightGradient: g(weight),
                                  biasGradient: g(bias), inputGradient: dx, accumulateInput: accumulate)
        }

        // MLP: output = middle + down(f(gate)·up); the identity path leaves dResidual as it is.
        linear(.down, d.dResidual.pointer, x: a.activated.pointer, weight: w.down, bias: w.downBias,
               dx: d.dActivated.pointer, accumulate: false)
        TrainingOps.gatedActivationBackward(d.dActivated.pointer, gate: a.gate.pointer, up: a.up.pointer,
                                            count: n * s.intermediateSize, activation: s.activation,
                                            gateGradient: d.dGate.pointer, upGradient: d.dUp.pointer)
        linear(.gate, d.dGate.pointer, x: a.mlpNorm.pointer, weight: w.gate, bias: w.gateBias, dx: d.dNorm.pointer,
               accumulate: false)
        linear(.up, d.dUp.pointer, x: a.mlpNorm.pointer, weight: w.up, bias: w.upBias, dx: d.dNorm.pointer,
               accumulate: true)
        TrainingOps.rmsNormBackward(d.dNorm.pointer, x: a.middle.pointer, rstd: a.mlpRstd.pointer, rows: n, width: h,
                                    weight: p + w.postNorm, addsOne: s.normAddsOne, weightGradient: g(w.postNorm),
                                    inputGradient: d.dResidual.pointer)

        // Attention: middle = input + o(attention(rope(q), rope(k), v)).
        linear(.o, d.dResidual.pointer, x: a.attention.pointer, weight: w.o, bias: w.oBias,
               dx: d.dAttention.pointer, accumulate: false)
        d.dK.zero()
        d.dV.zero()
        TrainingOps.attentionBackward(d.dAttention.pointer, q: a.q.pointer, k: a.k.pointer, v: a.v.pointer,
                                      probabilities: a.probabilities.pointer, shape: attentionShape,
                                      scratch: d.dScores.pointer, queryGradient: d.dQ.pointer,
                                      keyGradient: d.dK.pointer, valueGradient: d.dV.pointer)
        ropeBackward(d.dQ.pointer, heads: s.headCount)
        ropeBackward(d.dK.pointer, heads: s.kvHeadCount)
        let xn = a.attentionNorm.pointer
        linear(.q, d.dQ.pointer, x: xn, weight: w.q, bias: w.qBias, dx: d.dNorm.pointer, accumulate: false)
        linear(.k, d.dK.pointer, x: xn, weight: w.k, bias: w.kBias, dx: d.dNorm.pointer, accumulate: true)
        linear(.v, d.dV.pointer, x: xn, weight: w.v, bias: w.vBias, dx: d.dNorm.pointer, accumulate: true)
        TrainingOps.rmsNormBackward(d.dNorm.pointer, x: a.input.pointer, rstd: a.attentionRstd.pointer, rows: n, width: h,
                                    weight: p + w.inputNorm, addsOne: s.normAddsOne, weightGradient: g(w.inputNorm),
                                    inputGradient: d.dResidual.pointer)
    }

    private func ropeBackward(_ dx: UnsafeMutablePointer<Float>, heads: Int) {
        ropeTables { cos, sin in
            TrainingOps.ropeBackward(dx, rows: batchSize * sequenceLength, seqLen: sequenceLength, heads: heads,
                                     headDim: spec.headDim, cos: cos, sin: sin)
        }
    }
}
