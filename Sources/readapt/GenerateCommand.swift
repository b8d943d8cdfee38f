import ArgumentParser
import Foundation
import ReAdapt

/// `readapt generate`: continue a prompt, streaming text as tokens are chosen.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a model, streaming the text as it is generated."
    )

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var adapterOptions: AdapterOptions

    @Option(name: .long, help: "The prompt text (encoded with the tokenizer's own special tokens, as transformers does).")
    var prompt: String

    @Flag(name: .long, help: "Render the prompt as one user turn through the model's chat template (with the generation prompt) and tokenize it as transformers' apply_chat_template does.")
    var chat = false

    @Option(name: .long, help: "With --chat: a system prompt placed before the user turn.")
    var system: String?

    @Option(name: .long, help: "Most new tokens to generate.")
    var maxTokens = 128

    @OptionGroup var sampling: SamplingArguments

    @Flag(name: .long, help: "Print one JSON object {text, tokens, prefill_tokens_per_second, decode_tokens_per_second} instead of streaming.")
    var json = false

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be 0 or more, not \(maxTokens).") }
        if system != nil, !chat { throw ValidationError("--system needs --chat.") }
    }

    struct Output: Encodable {
        var text: String
        var tokens: Int
        var prefillTokensPerSecond: Double
        var decodeTokensPerSecond: Double
        var stopReason: String
        enum CodingKeys: String, CodingKey {
            case text, tokens
            case prefillTokensPerSecond = "prefill_tokens_per_second"
            case decodeTokensPerSecond = "decode_tokens_per_second"
            case stopReason = "stop_reason"
        }
    }

    func run() throws {
        // Check for a chat template before spending time on the weights.
        let template = chat ? try loadChatTemplate(modelDirectory: modelOptions.model) : nil
        let (model, tokenizer, eos) = try modelOptions.load(adapters: adapterOptions)
        let promptIDs: [Int]
        if let template {
            var messages = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
            messages.append(ChatMessage(role: "user", content: prompt))
            // apply_chat_template(tokenize=True) encodes the rendered text with add_special_tokens=False:
            // the template itself writes any BOS it wants.
            promptIDs = tokenizer.encode(try template.render(messages, addGenerationPrompt: true), addSpecialTokens: false)
        } else {
            promptIDs = tokenizer.encode(prompt)
        }
        guard !promptIDs.isEmpty else { throw CommandLineError("The prompt encodes to no tokens.") }
        guard promptIDs.count < model.spec.maxPositions else {
            throw CommandLineError("The prompt has \(promptIDs.count) tokens, but \(modelOptions.model) holds at most \(model.spec.maxPositions).")
        }
        let generator = Generator(model: model, eosTokenIDs: eos, sampling: sampling.options)
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
        var text = ""
        let result = try generator.generate(prompt: promptIDs, maxTokens: maxTokens) { token in
            let piece = detokenizer.append(token)
            text += piece
            if !json {
                FileHandle.standardOutput.write(Data(piece.utf8))
            }
        }
        let tail = detokenizer.finish()
        text += tail
        if json {
            try printJSON(Output(text: text, tokens: result.tokens.count,
                                 prefillTokensPerSecond: result.prefillTokensPerSecond,
                                 decodeTokensPerSecond: result.decodeTokensPerSecond,
                                 stopReason: result.stopReason.rawValue))
        } else {
            print(tail)
            printToStandardError(String(
                format: "%d prompt tokens at %.1f tokens/s; %d new tokens at %.1f tokens/s; stopped: %@.",
                result.promptTokens, result.prefillTokensPerSecond, result.tokens.count,
                result.decodeTokensPerSecond, result.stopReason.rawValue))
        }
    }
}
