import Foundation

/// Problems with perplexity settings or input.
public enum PerplexityError: Error, CustomStringConvertible, Equatable {
    case tooFewTokens(count: Int)
    case invalidWindow(window: Int, stride: Int)

    public var description: String {
        switch self {
        case .tooFewTokens(let count):
            return "Perplexity needs at least 2 tokens, but the text has \(count)."
        case .invalidWindow(let window, let stride):
            return "Perplexity stride \(stride) must be between 1 and the window \(window)."
        }
    }
}

/// The score of a token sequence.
public struct PerplexityResult: Sendable, Equatable {
    /// Tokens whose log-likelihood was counted (every token but the first).
    public var scoredTokens: Int
    public var meanNLL: Double
    public var perplexity: Double { exp(meanNLL) }
    /// Tokens run through the model, counting the context recomputed by overlapping windows.
    public var forwardTokens: Int
    public var seconds: Double
    public var forwardTokensPerSecond: Double { seconds > 0 ? Double(forwardTokens) / seconds : 0 }
}

/// Strided perplexity as in Hugging Face's "Perplexity of fixed-length models" guide: windows of up
/// to `window` tokens start every `stride` tokens; each window recomputes its context from scratch
/// and only the tokens no earlier window scored count. The first token of the sequence is never
/// scored. Unlike the guide's `loss * (trg_len - 1)` shortcut, each counted token's exact NLL is
/// summed (the two agree when stride == window).
public enum Perplexity {
    /// `progress(scored, total)` is called after each window with the tokens scored so far.
    public static func score(model: LanguageModel, tokens: [Int], window: Int? = nil,
                             stride: Int? = nil,
                             progress: ((Int, Int) -> Void)? = nil) throws -> PerplexityResult {
        guard tokens.count >= 2 else { throw PerplexityError.tooFewTokens(count: tokens.count) }
        let window = window ?? model.spec.maxPositions
        let stride = stride ?? window
        guard stride >= 1, stride <= window else {
            throw PerplexityError.invalidWindow(window: window, stride: stride)
        }
        let session = model.makeSession(capacity: min(window, tokens.count))
        let vocab = model.spec.vocabSize
        let clock = ContinuousClock()
        let started = clock.now
        var total = 0.0, count = 0, forwardTokens = 0, previousEnd = 0
        var begin = 0
        while begin < tokens.count {
            let end = min(begin + window, tokens.count)
            let firstScored = max(previousEnd, begin + 1)
            // Row r of the window predicts token begin + r + 1.
            let rows = (firstScored - 1 - begin)..<(end - 1 - begin)
            session.reset()
            let logits = try session.forward(Array(tokens[begin..<end]), logitRows: rows)
            forwardTokens += end - begin
            logits.withUnsafeBufferPointer { all in
                for (i, row) in rows.enumerated() {
                    let target = tokens[begin + row + 1]
                    total += negativeLogLikelihood(UnsafeBufferPointer(rebasing: all[(i * vocab)..<((i + 1) * vocab)]),
                                                   target: target)
                    count += 1
                }
            }
            previousEnd = end
            progress?(count, tokens.count - 1)
            if end == tokens.count { break }
            begin += stride
        }
        let seconds = (clock.now - started).seconds
        return PerplexityResult(scoredTokens: count, meanNLL: total / Double(count),
                                forwardTokens: forwardTokens, seconds: seconds)
    }

    /// -log softmax(logits)[target], accumulated in Double.
    public static func negativeLogLikelihood(_ logits: UnsafeBufferPointer<Float>, target: Int) -> Double {
        var maxLogit = -Float.infinity
        for v in logits where v > maxLogit { maxLogit = v }
        var sum = 0.0
        for v in logits { sum += exp(Double(v - maxLogit)) }
        return Double(maxLogit) + log(sum) - Double(logits[target])
    }

    /// Mean NLL of tokens[1...] given their prefixes, in one pass (sequence must fit the context).
    public static func meanNLL(model: LanguageModel, tokens: [Int]) throws -> Double {
        try score(model: model, tokens: tokens, window: tokens.count, stride: tokens.count).meanNLL
    }
}
