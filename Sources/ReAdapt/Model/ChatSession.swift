import Foundation

/// One assistant reply of a `ChatSession`.
public struct ChatReply: Sendable, Equatable {
    /// The reply as it is kept in the history: the new tokens without a final EOS, decoded with
    /// special tokens skipped (what a transformers user appends as the assistant message).
    public var text: String
    public var generation: GenerationResult
    /// The rendered prompt's tokens for this turn.
    public var promptTokens: [Int]
    /// How many leading prompt tokens were already in the KV cache from earlier turns.
    public var reusedTokens: Int
    /// Seconds from the start of `respond` (rendering, tokenizing, prefill) to the first new token.
    public var timeToFirstToken: Double
}

/// A multi-turn conversation with a model: keeps the history, renders the whole conversation
/// through the chat template each turn, tokenizes it as transformers'
/// `apply_chat_template(tokenize=True)` does (the rendered text with `add_special_tokens=False`),
/// and reuses the KV cache for the longest prefix the new prompt shares with the tokens already
/// processed, so each turn only runs what is new.
public final class ChatSession {
    public let model: LanguageModel
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    public let eosTokenIDs: Set<Int>
    /// The system prompt placed before the history (nil: none). Setting it clears the history.
    public var systemPrompt: String? { didSet { reset() } }
    /// The user and assistant turns so far (without the system prompt).
    public private(set) var history: [ChatMessage] = []
    /// The running sequence; its cache holds `cachedTokens`.
    public let session: InferenceSession

    private var sampler: Sampler
    /// The tokens whose keys and values are in `session`'s cache, in order.
    private var cachedTokens: [Int] = []

    public init(model: LanguageModel, tokenizer: Tokenizer, template: ChatTemplate, eosTokenIDs: [Int]? = nil,
                sampling: SamplingOptions = .greedy, systemPrompt: String? = nil, capacity: Int? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.eosTokenIDs = Set(eosTokenIDs ?? model.spec.eosTokenIDs)
        self.systemPrompt = systemPrompt
        self.sampler = Sampler(sampling)
        self.session = model.makeSession(capacity: capacity)
    }

    /// Clears the history (the system prompt stays). The cache is kept: a new conversation with the
    /// same system prompt still shares its first tokens.
    public func reset() { history = [] }

    /// The messages the template sees: the system prompt, the history, then `userText` if given.
    public func messages(adding userText: String? = nil) -> [ChatMessage] {
        var messages = systemPrompt.map { [ChatMessage(role: "system", content: $0)] } ?? []
        messages += history
        if let userText { messages.append(ChatMessage(role: "user", content: userText)) }
        return messages
    }

    /// The prompt tokens for the conversation plus `userText`, ending in the generation prompt.
    public func promptTokens(adding userText: String) throws -> [Int] {
        let text = try template.render(messages(adding: userText), addGenerationPrompt: true)
        return tokenizer.encode(text, addSpecialTokens: false)
    }

    /// Runs `prompt` through the model, reusing the cached prefix it shares with earlier tokens;
    /// afterwards `session.withLogits` gives the logits after the prompt's last token. At least the
    /// last token is always run, since its logits are needed. Returns the number of reused tokens.
    @discardableResult
    public func prefill(_ prompt: [Int]) throws -> Int {
        guard !prompt.isEmpty else { throw ModelRunError.emptyInput }
        var shared = 0
        let limit = min(cachedTokens.count, prompt.count - 1, session.position)
        while shared < limit, cachedTokens[shared] == prompt[shared] { shared += 1 }
        session.rewind(to: shared)
        cachedTokens.removeSubrange(shared...)
        try session.forward(Array(prompt[shared...]))
        cachedTokens = prompt
        return shared
    }

    /// Adds a user turn, generates the assistant's reply (calling `onToken` as each token is
    /// chosen, EOS included), and appends both turns to the history. On an error (template error,
    /// context full) the history is left unchanged.
    public func respond(to userText: String, maxTokens: Int, onToken: ((Int) -> Void)? = nil) throws -> ChatReply {
        let clock = ContinuousClock()
        let start = clock.now
        let prompt = try promptTokens(adding: userText)
        guard prompt.count < session.capacity else {
            throw ModelRunError.contextFull(capacity: session.capacity, needed: prompt.count + 1)
        }
        let reused = try prefill(prompt)
        var result = GenerationResult(tokens: [], stopReason: .maxTokens, promptTokens: prompt.count,
                                      prefillSeconds: 0, decodeSeconds: 0)
        var stepStart = start
        while result.tokens.count < maxTokens {
            let token = session.withLogits { sampler.sample($0) }
            result.tokens.append(token)
            let seconds = (clock.now - stepStart).seconds
            if result.tokens.count == 1 { result.prefillSeconds = seconds } else { result.decodeSeconds += seconds }
            onToken?(token)
            if eosTokenIDs.contains(token) { result.stopReason = .endOfSequence; break }
            if result.tokens.count >= maxTokens { break }
            if session.position >= session.capacity { result.stopReason = .contextFull; break }
            stepStart = clock.now
            try session.forward([token])
            cachedTokens.append(token)
        }
        var replyTokens = result.tokens
        if let last = replyTokens.last, eosTokenIDs.contains(last) { replyTokens.removeLast() }
        let text = tokenizer.decode(replyTokens, skipSpecialTokens: true)
        history.append(ChatMessage(role: "user", content: userText))
        history.append(ChatMessage(role: "assistant", content: text))
        return ChatReply(text: text, generation: result, promptTokens: prompt, reusedTokens: reused,
                         timeToFirstToken: result.prefillSeconds)
    }
}
