import Foundation

extension TrainableModel {
    /// Replaces every parameter with a fresh draw, as transformers' `_init_weights` initialises these
    /// architectures (`from_config`), so a model can be trained from scratch (`--init random`):
    /// - linear weights and the embedding (and an untied `lm_head`) ~ Normal(0, initializer_range);
    /// - the padding token's embedding row is 0 (`nn.Embedding(padding_idx=pad_token_id)`; Gemma's
    ///   pad_token_id defaults to 0, the others to none);
    /// - biases 0;
    /// - RMSNorm weights 1, or 0 for Gemma, whose norm multiplies by (1 + w);
    /// - a tied head is the embedding itself (one slot), so it shares the draw.
    ///
    /// Deterministic from `seed` on every platform (Box–Muller over SplitMix64, one stream per
    /// parameter seeded by (seed, parameter index), so one tensor's values do not depend on the
    /// sizes of the others); torch's own random stream cannot be reproduced. For LoRA/DoRA the
    /// adapter is re-initialised from `seed` too, so DoRA's magnitudes are the new weights' norms.
    public func initializeRandomly(seed: UInt64) {
        let std = Float(spec.initializerRange)
        let norm: Float = spec.normAddsOne ? 0 : 1
        let slots = layout.slots, base = parameters.pointer
        DispatchQueue.concurrentPerform(iterations: slots.count) { index in
            let slot = slots[index]
            let values = UnsafeMutableBufferPointer(start: base + slot.offset, count: slot.count)
            switch Self.initialization(of: slot) {
            case .normal:
                var generator = GaussianGenerator(seed: Self.streamSeed(seed, index))
                for i in values.indices { values[i] = generator.next() * std }
            case .constant(let isNorm):
                values.update(repeating: isNorm ? norm : 0)
            }
        }
        if let pad = spec.padTokenID.map({ $0 < 0 ? $0 + spec.vocabSize : $0 }), (0..<spec.vocabSize).contains(pad) {
            (base + layout.embedding + pad * spec.hiddenSize).update(repeating: 0, count: spec.hiddenSize)
        }
        if lora != nil { initializeAdapter(seed: seed) }
    }

    private enum Initialization { case normal, constant(isNorm: Bool) }

    /// Which rule a parameter follows, from its Hugging Face name.
    private static func initialization(of slot: ParameterSlot) -> Initialization {
        if slot.name.hasSuffix(".bias") { return .constant(isNorm: false) }
        if slot.name.hasSuffix("norm.weight") { return .constant(isNorm: true) }  // *_layernorm, model.norm
        return .normal
    }

    /// SplitMix64's finaliser of (seed, index): well-separated seeds for neighbouring indices.
    private static func streamSeed(_ seed: UInt64, _ index: Int) -> UInt64 {
        SplitMix64.finalize(seed &+ UInt64(index + 1) &* SplitMix64.golden)
    }
}
