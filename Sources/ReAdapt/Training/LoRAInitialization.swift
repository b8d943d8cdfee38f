import Foundation

extension TrainableModel {
    /// PEFT's default initialisation (`init_lora_weights=True`): A ~ U(−1/√in, 1/√in), which is
    /// torch's kaiming_uniform_(a=√5) on a [rank, in] matrix, B = 0 so the adapted model starts as
    /// the base, and DoRA's magnitude = ‖W + scale·B·A‖ per output row = ‖W‖ per row (B is zero).
    /// The draws come from SplitMix64 seeded with `seed`, so they are reproducible on any platform
    /// (they cannot equal torch's own random stream).
    func initializeAdapter(seed: UInt64) {
        guard let lora else { return }
        let values = trainable.values.pointer
        values.update(repeating: 0, count: trainable.count)
        var random = SplitMix64(seed: seed)
        func nextUniform() -> Float { Float(random.next() >> 40) / Float(1 << 24) }  // [0, 1), 24 bits
        for (l, modules) in lora.layers.enumerated() {
            for module in LoRATargetModule.allCases {
                guard let m = modules[module] else { continue }
                let bound = 1 / Float(m.inFeatures).squareRoot()
                for i in 0..<(lora.settings.rank * m.inFeatures) {
                    values[m.a + i] = (2 * nextUniform() - 1) * bound
                }
                if let magnitude = m.magnitude {
                    let w = parameters.pointer + layout.weightOffset(layer: l, module: module)
                    for row in 0..<m.outFeatures {
                        var sum: Double = 0
                        for j in 0..<m.inFeatures { let x = Double(w[row * m.inFeatures + j]); sum += x * x }
                        values[magnitude + row] = Float(sum.squareRoot())
                    }
                }
            }
        }
    }
}

extension ParameterLayout {
    /// The offset of the weight a LoRA target module adapts in decoder layer `layer`.
    func weightOffset(layer: Int, module: LoRATargetModule) -> Int {
        let w = layers[layer]
        switch module {
        case .q: return w.q
        case .k: return w.k
        case .v: return w.v
        case .o: return w.o
        case .gate: return w.gate
        case .up: return w.up
        case .down: return w.down
        }
    }
}
