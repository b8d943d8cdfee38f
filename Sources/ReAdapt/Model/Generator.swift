import Foundation

/// Why generation stopped.
public enum StopReason: String, Sendable, Equatable {
    /// An end-of-sequence token was produced (it is the last of `tokens`, as in transformers).
    case endOfSequence
    /// `maxTokens` new tokens were produced.
    case maxTokens
    /// The session's context capacity was reached.
    case contextFull
}

/// The outcome of one generation, with prefill and decode timed separately.
public struct GenerationResult: Sendable, Equatable {
    /// The new tokens (not the prompt).
    public var tokens: [Int]
    public var stopReason: StopReason
    public var promptTokens: Int
    /// Time to run the prompt and choose the first token.
    public var prefillSeconds: Double
    /// Time for every later token (one forward pass each).
    public var decodeSeconds: Double

    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
    /// Tokens produced by decode steps (all but the first) per second.
    public var decodeTokensPerSecond: Double {
        decodeSeconds > 0 ? Double(max(tokens.count - 1, 0)) / decodeSeconds : 0
    }
}

/// Token-level generation: prefill the prompt in one batched pass, then decode one token at a time
/// through the KV cache until an EOS id, `maxTokens`, or the context limit.
public struct Generator {
    public let model: LanguageModel
    public var eosTokenIDs: Set<Int>
    public var sampling: SamplingOptions
    /// Context capacity for each generation (default: max_position_embeddings).
    public var capacity: Int?

    public init(model: LanguageModel, eosTokenIDs: [Int]? = nil, sampling: SamplingOptions = .greedy,
                capacity: Int? = nil) {
        self.model = model
        self.eosTokenIDs = Set(eosTokenIDs ?? model.spec.eosTokenIDs)
        self.sampling = sampling
        self.capacity = capacity
    }

    /// Generates up to `maxTokens` tokens after `prompt`, calling `onToken` as each one is chosen.
    public func generate(prompt: [Int], maxTokens: Int,
                         onToken: ((Int) -> Void)? = nil) throws -> GenerationResult {
        let session = model.makeSession(capacity: capacity)
        var sampler = Sampler(sampling)
        var result = GenerationResult(tokens: [], stopReason: .maxTokens, promptTokens: prompt.count,
                                       prefillSeconds: 0, decodeSeconds: 0)
        guard maxTokens > 0 else { return result }
        let clock = ContinuousClock()
        var started = clock.now
        try session.forward(prompt)
        var first = true
        while true {
            let token = session.withLogits { sampler.sample($0) }
            result.tokens.append(token)
            let seconds = (clock.now - started).seconds
            if first { result.prefillSeconds = seconds; first = false } else { result.decodeSeconds += seconds }
            onToken?(token)
            if eosTokenIDs.contains(token) { result.stopReason = .endOfSequence; break }
            if result.tokens.count >= maxTokens { result.stopReason = .maxTokens; break }
            if session.position >= session.capacity { result.stopReason = .contextFull; break }
            started = clock.now
            try session.forward([token])
        }
        return result
    }
}
