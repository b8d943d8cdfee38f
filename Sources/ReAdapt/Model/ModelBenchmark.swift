import Foundation

/// Best-of-N timings of batched prefill and greedy decode (for `readapt bench model` and BENCHMARKS.md).
public struct ModelBenchmarkResult: Sendable, Equatable {
    public var promptTokens: Int
    /// One forward pass over the prompt, logits of the last position only.
    public var prefillSeconds: Double
    /// Tokens produced by decode steps (the first token comes from the prefill).
    public var decodeTokens: Int
    public var decodeSeconds: Double
    public var prefillTokensPerSecond: Double { Double(promptTokens) / prefillSeconds }
    public var decodeTokensPerSecond: Double { Double(decodeTokens) / decodeSeconds }
}

public enum ModelBenchmark {
    /// Prefill of `promptLength` pseudo-random tokens, then greedy generation of `newTokens` tokens
    /// (EOS ignored) after a 16-token prompt; the best of `repeats` runs of each.
    public static func run(model: LanguageModel, promptLength: Int = 512, newTokens: Int = 128,
                           repeats: Int = 3, seed: UInt64 = 0) throws -> ModelBenchmarkResult {
        var rng = Xoshiro256(seed: seed)
        let vocab = UInt64(model.spec.vocabSize)
        let prompt = (0..<promptLength).map { _ in Int(rng.next() % vocab) }
        let clock = ContinuousClock()
        let session = model.makeSession(capacity: max(promptLength, 16 + newTokens))
        try session.forward(Array(prompt.prefix(16)))  // warm-up: grows buffers, faults weights in
        var prefill = Double.infinity
        for _ in 0..<max(repeats, 1) {
            session.reset()
            let start = clock.now
            try session.forward(prompt)
            prefill = min(prefill, (clock.now - start).seconds)
        }
        let generator = Generator(model: model, eosTokenIDs: [], capacity: 16 + newTokens)
        var decode = Double.infinity, decodeTokens = 0
        for _ in 0..<max(repeats, 1) {
            let result = try generator.generate(prompt: Array(prompt.prefix(16)), maxTokens: newTokens)
            if result.decodeSeconds < decode { decode = result.decodeSeconds; decodeTokens = result.tokens.count - 1 }
        }
        return ModelBenchmarkResult(promptTokens: promptLength, prefillSeconds: prefill,
                                    decodeTokens: decodeTokens, decodeSeconds: decode)
    }
}
