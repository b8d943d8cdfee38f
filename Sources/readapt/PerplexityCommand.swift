import ArgumentParser
import Foundation
import ReAdapt

/// `readapt perplexity`: how well a model predicts a text, scored in windows of its context.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Score a text file: tokens, mean negative log-likelihood and perplexity.",
        discussion: """
        The text is tokenized as transformers does by default (with the tokenizer's own special \
        tokens). Windows of --window tokens (default: the model's context) start every --stride \
        tokens; each token after the first is scored once, with the longest context its window gives.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var adapterOptions: AdapterOptions

    @Option(name: .long, help: "UTF-8 text file to score.")
    var file: String

    @Option(name: .long, help: "Tokens between window starts (default: the window, i.e. no overlap).")
    var stride: Int?

    @Option(name: .long, help: "Tokens per window (default: max_position_embeddings).")
    var window: Int?

    @Flag(name: .long, help: "Print {tokens, mean_nll, perplexity, tokens_per_second} as JSON.")
    var json = false

    func validate() throws {
        if let stride, stride < 1 { throw ValidationError("--stride must be at least 1, not \(stride).") }
        if let window, window < 2 { throw ValidationError("--window must be at least 2, not \(window).") }
    }

    struct Output: Encodable {
        var tokens: Int
        var meanNLL: Double
        var perplexity: Double
        var tokensPerSecond: Double
        enum CodingKeys: String, CodingKey {
            case tokens, perplexity
            case meanNLL = "mean_nll"
            case tokensPerSecond = "tokens_per_second"
        }
    }

    func run() throws {
        let text = try readTextFile(file)
        let (model, tokenizer, _) = try modelOptions.load(adapters: adapterOptions)
        let ids = tokenizer.encode(text)
        let window = min(self.window ?? model.spec.maxPositions, model.spec.maxPositions)
        if let stride, stride > window {
            throw CommandLineError("--stride \(stride) is larger than the window of \(window) tokens.")
        }
        let start = ContinuousClock.now
        let result = try Perplexity.score(model: model, tokens: ids, window: window, stride: stride) { done, total in
            let elapsed = secondsSince(start)
            let rate = Double(done) / max(elapsed, 1e-9)
            let eta = Double(total - done) / max(rate, 1e-9)
            printToStandardError(String(format: "scored %d/%d tokens, %.0f tokens/s, ETA %.0f s",
                                        done, total, rate, eta))
        }
        // Forward throughput counts every token run through the model (overlapping context included).
        let output = Output(tokens: result.scoredTokens, meanNLL: result.meanNLL,
                            perplexity: result.perplexity, tokensPerSecond: result.forwardTokensPerSecond)
        if json {
            try printJSON(output)
        } else {
            print("tokens scored:   \(output.tokens)")
            print(String(format: "mean NLL:        %.6f", output.meanNLL))
            print(String(format: "perplexity:      %.4f", output.perplexity))
            print(String(format: "forward speed:   %.1f tokens/s", output.tokensPerSecond))
        }
    }
}
