import Foundation

/// The adapter's part of the forward and backward: each adapted linear layer runs its frozen base
/// (`TrainingOps.linear*`) and then these add the LoRA/DoRA terms (`LoRAOps`).
extension TrainableModel {
    /// One adapted module's buffers and shape, or nil when `module` of layer `l` carries no adapter.
    struct AdaptedModule {
        let shape: LoRAShape
        let slots: LoRAModuleSlots
        let saved: LoRAModuleActivations
        /// The mask key of this module in this forward pass (nil: no dropout).
        let dropoutKey: UInt64?
    }

    func adaptedModule(_ l: Int, _ module: LoRATargetModule) -> AdaptedModule? {
        guard let lora, let acts = loraActivations, let slots = lora.layers[l][module],
              let saved = acts.modules[l][module] else { return nil }
        let settings = lora.settings
        let shape = LoRAShape(rows: batchSize * sequenceLength, inFeatures: slots.inFeatures,
                              outFeatures: slots.outFeatures, rank: settings.rank, scale: settings.scale,
                              dropout: Float(settings.dropout))
        let key = settings.dropout > 0 ? forwardDropoutKey.map { Self.moduleKey($0, layer: l, module: module) } : nil
        return AdaptedModule(shape: shape, slots: slots, saved: saved, dropoutKey: key)
    }

    /// A distinct mask stream per (pass, layer, module): PEFT has one nn.Dropout per module.
    static func moduleKey(_ key: UInt64, layer: Int, module: LoRATargetModule) -> UInt64 {
        let stream = UInt64(layer * 8 + LoRATargetModule.allCases.firstIndex(of: module)! + 1)
        return SplitMix64.finalize(key &+ stream &* SplitMix64.golden)
    }

    /// The module's input as the adapter sees it: x, or dropout(x) written into scratch.
    private func adapterInput(_ m: AdaptedModule, _ x: UnsafePointer<Float>) -> UnsafePointer<Float> {
        guard let key = m.dropoutKey, let acts = loraActivations else { return x }
        let dropoutSection = TrainingProfiler.begin(.loraDropout)  // profile
        LoRAOps.dropout(x, count: m.shape.rows * m.shape.inFeatures, key: key, shape: m.shape,
                        into: acts.droppedInput.pointer)
        TrainingProfiler.end(dropoutSection)  // profile
        return UnsafePointer(acts.droppedInput.pointer)
    }

    /// On entry y = x·Wᵀ + b (the frozen layer); on exit the adapted layer's output.
    func adapterForward(_ l: Int, _ module: LoRATargetModule, input x: UnsafePointer<Float>,
                        weight: Int, bias: Int?, output y: UnsafeMutablePointer<Float>) {
        guard let m = adaptedModule(l, module), let acts = loraActivations else { return }
        let section = TrainingProfiler.begin(.loraExtra); defer { TrainingProfiler.end(section) }  // profile
        let t = trainable.values.pointer, s = m.shape
        let xd = adapterInput(m, x)
        guard let magnitude = m.slots.magnitude, let pre = m.saved.pre, let norms = m.saved.norms,
              let scales = m.saved.scales else {
            let gemmSection = TrainingProfiler.begin(.loraGEMM, flops: s.loraForwardFlops)  // profile
            LoRAOps.loraForward(xd, a: t + m.slots.a, b: t + m.slots.b, shape: s, saveU: m.saved.u.pointer, output: y)
            TrainingProfiler.end(gemmSection)  // profile
            return
        }
        let w = parameters.pointer + weight
        if holdsDoRANorms {
            for j in 0..<s.outFeatures { scales.pointer[j] = t[magnitude + j] / norms.pointer[j] }
        } else {
            LoRAOps.doraScales(weight: w, a: t + m.slots.a, b: t + m.slots.b, magnitude: t + magnitude, shape: s,
                               scratch: acts.product.pointer, norms: norms.pointer, scales: scales.pointer)
        }
        // z = x_d·Wᵀ: recomputed under dropout (PEFT does the same); otherwise it is y − b.
        if m.dropoutKey != nil {
            TrainingOps.linearForward(xd, rows: s.rows, inFeatures: s.inFeatures, weight: w, bias: nil,
                                      outFeatures: s.outFeatures, into: pre.pointer)
        } else {
            pre.pointer.update(from: y, count: s.rows * s.outFeatures)
            if let bias {
                LoRAOps.subtractBias(parameters.pointer + bias, from: pre.pointer, rows: s.rows, width: s.outFeatures)
            }
        }
        let gemmSection = TrainingProfiler.begin(.loraGEMM, flops: s.loraForwardFlops)  // profile
        LoRAOps.loraForward(xd, a: t + m.slots.a, b: t + m.slots.b, shape: s, saveU: m.saved.u.pointer,
                            output: acts.term.pointer, accumulate: false)
        TrainingProfiler.end(gemmSection)  // profile
        LoRAOps.doraCombine(y: y, z: pre.pointer, l: acts.term.pointer, scales: scales.pointer, shape: s,
                            savePre: pre.pointer)
    }

    /// The frozen layer's input gradient plus the adapter's: dx (+)= dy·W + [adapter terms], and
    /// the adapter's parameter gradients accumulated. Without an adapter on this module it is the
    /// plain linear backward (dW, db only when the base is trainable).
    func adaptedLinearBackward(_ l: Int, _ module: LoRATargetModule, dy: UnsafePointer<Float>,
                               input x: UnsafePointer<Float>, weight: Int, weightGradient: UnsafeMutablePointer<Float>?,
                               biasGradient: UnsafeMutablePointer<Float>?, inputGradient dx: UnsafeMutablePointer<Float>,
                               accumulateInput: Bool) {
        let w = UnsafePointer(parameters.pointer + weight)
        guard let m = adaptedModule(l, module), let acts = loraActivations else {
            TrainingOps.linearBackward(dy, x: x, rows: batchSize * sequenceLength, inFeatures: inFeatures(module),
                                       weight: w, outFeatures: outFeatures(module), weightGradient: weightGradient,
                                       biasGradient: biasGradient, inputGradient: dx, accumulateInput: accumulateInput)
            return
        }
        let t = trainable.values.pointer, gr = trainable.gradients.pointer, s = m.shape
        let count = s.rows * s.outFeatures
        // The gradient reaching the adapter's term (and, without dropout, the whole W path).
        var adapterGradient = dy
        if let magnitude = m.slots.magnitude, let pre = m.saved.pre, let norms = m.saved.norms,
           let scales = m.saved.scales {
            TrainingProfiler.measure(.loraExtra) {  // profile
            LoRAOps.doraBackward(dy, pre: pre.pointer, norms: norms.pointer, scales: scales.pointer, shape: s,
                                 magnitudeGradient: gr + magnitude, scaledGradient: acts.term.pointer)
            }  // profile
            adapterGradient = UnsafePointer(acts.term.pointer)
        }
        // Frozen path: dx = dy·W (DoRA without dropout: (s⊙dy)·W, since y = b + s⊙(x·Wᵀ + …)).
        let basePathGradient = m.dropoutKey == nil ? adapterGradient : dy
        TrainingOps.linearBackward(basePathGradient, x: x, rows: s.rows, inFeatures: s.inFeatures, weight: w,
                                   outFeatures: s.outFeatures, weightGradient: nil, biasGradient: nil,
                                   inputGradient: dx, accumulateInput: accumulateInput)
        let section = TrainingProfiler.begin(.loraExtra); defer { TrainingProfiler.end(section) }  // profile
        guard let key = m.dropoutKey else {
            let gemmSection = TrainingProfiler.begin(.loraGEMM, flops: 2 * s.loraForwardFlops)  // profile
            LoRAOps.loraBackward(adapterGradient, xd: x, u: m.saved.u.pointer, a: t + m.slots.a, b: t + m.slots.b,
                                 shape: s, aGradient: gr + m.slots.a, bGradient: gr + m.slots.b, du: acts.du.pointer,
                                 xdGradient: dx, accumulateInput: true)
            TrainingProfiler.end(gemmSection)  // profile
            return
        }
        // Under dropout: regenerate x_d, collect d(loss)/d(x_d), send it back through the same mask.
        let xd = adapterInput(m, x), dxd = acts.droppedInputGradient.pointer
        let gemmSection = TrainingProfiler.begin(.loraGEMM, flops: 2 * s.loraForwardFlops)  // profile
        LoRAOps.loraBackward(adapterGradient, xd: xd, u: m.saved.u.pointer, a: t + m.slots.a, b: t + m.slots.b,
                             shape: s, aGradient: gr + m.slots.a, bGradient: gr + m.slots.b, du: acts.du.pointer,
                             xdGradient: dxd)
        TrainingProfiler.end(gemmSection)  // profile
        if m.slots.magnitude != nil {
            // DoRA's (s − 1)⊙(x_d·Wᵀ) term: d/dx_d = ((s − 1)⊙dy)·W = (g − dy)·W.
            let g = acts.term.pointer
            LoRAOps.subtract(dy, from: g, count: count)
            GEMM.sgemm(transA: false, transB: false, m: s.rows, n: s.inFeatures, k: s.outFeatures,
                       a: g, lda: s.outFeatures, b: w, ldb: s.inFeatures, beta: 1, c: dxd, ldc: s.inFeatures)
        }
        let n = s.rows * s.inFeatures
        let dropoutSection = TrainingProfiler.begin(.loraDropout)  // profile
        LoRAOps.dropout(dxd, count: n, key: key, shape: s, into: dxd)
        TrainingProfiler.end(dropoutSection)  // profile
        TrainingOps.addUnprofiled(dxd, into: dx, count: n)
    }

    private func inFeatures(_ module: LoRATargetModule) -> Int { LoRALayout.features(module, spec: spec).0 }
    private func outFeatures(_ module: LoRATargetModule) -> Int { LoRALayout.features(module, spec: spec).1 }
}
