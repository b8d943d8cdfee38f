import ArgumentParser
import Foundation
import ReAdapt

/// `readapt chat`: an interactive conversation on stdin/stdout. Only the model's replies go to
/// stdout (one reply per line block, streamed as tokens come); the prompt marker, errors and
/// timings go to stderr.
struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model through its chat template, one line of stdin per user turn.",
        discussion: """
        Each line is a user turn; the whole conversation is re-rendered every turn and the KV cache \
        is reused for the part that did not change. /reset clears the history, /system TEXT sets \
        the system prompt (and clears the history), end of input (Ctrl-D) quits.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var adapterOptions: AdapterOptions

    @Option(name: .long, help: "System prompt placed before the conversation.")
    var system: String?

    @Option(name: .long, help: "Most new tokens per reply.")
    var maxTokens = 512

    @OptionGroup var sampling: SamplingArguments

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be 1 or more, not \(maxTokens).") }
    }

    func run() throws {
        // Check the template before spending time on the weights.
        let template = try loadChatTemplate(modelDirectory: modelOptions.model)
        let (model, tokenizer, eos) = try modelOptions.load(adapters: adapterOptions)
        let chat = ChatSession(model: model, tokenizer: tokenizer, template: template, eosTokenIDs: eos,
                               sampling: sampling.options,
                               systemPrompt: system)
        printToStandardError("Type a message; /reset clears the history, /system TEXT sets the system prompt, Ctrl-D quits.")
        while true {
            FileHandle.standardError.write(Data("> ".utf8))
            guard let line = readLine(strippingNewline: true) else { break }
            let input = line.trimmingCharacters(in: .whitespaces)
            if input.isEmpty { continue }
            if input == "/reset" {
                chat.reset()
                printToStandardError("History cleared.")
                continue
            }
            if input == "/system" || input.hasPrefix("/system ") {
                let text = input.dropFirst("/system".count).trimmingCharacters(in: .whitespaces)
                chat.systemPrompt = text.isEmpty ? nil : text
                printToStandardError(text.isEmpty ? "System prompt removed; history cleared."
                                                  : "System prompt set; history cleared.")
                continue
            }
            reply(to: line, in: chat)
        }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    /// Streams one reply to stdout; a failed turn is reported on stderr and leaves the history as it was.
    private func reply(to line: String, in chat: ChatSession) {
        var detokenizer = StreamingDetokenizer(tokenizer: chat.tokenizer, skipSpecialTokens: true)
        do {
            let reply = try chat.respond(to: line, maxTokens: maxTokens) { token in
                FileHandle.standardOutput.write(Data(detokenizer.append(token).utf8))
            }
            FileHandle.standardOutput.write(Data((detokenizer.finish() + "\n").utf8))
            let generation = reply.generation
            printToStandardError(String(
                format: "[time to first token %.0f ms (%d of %d prompt tokens reused); %d tokens at %.1f tokens/s; stopped: %@]",
                reply.timeToFirstToken * 1000, reply.reusedTokens, reply.promptTokens.count, generation.tokens.count,
                generation.decodeTokensPerSecond, generation.stopReason.rawValue))
        } catch {
            FileHandle.standardOutput.write(Data((detokenizer.finish()).utf8))
            printToStandardError("Error: \(error)")
        }
    }
}
