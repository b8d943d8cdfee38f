import Foundation

/// What tokenizing and packing the data produced, for the progress line and `--json`.
public struct TrainingDataReport: Codable, Equatable, Sendable {
    /// "text" (packed next-token prediction) or "chat" (assistant tokens only).
    public var objective: String
    /// Text documents or chat conversations read.
    public var documents: Int
    /// Tokens before packing/truncation (text: including one EOS per document).
    public var tokens: Int
    public var sequences: Int
    public var sequenceLength: Int
    /// Text: the tokens after the last full sequence, which are not trained on.
    public var tokensDropped: Int
    /// Chat: conversations longer than the sequence length, cut at its end.
    public var truncatedSequences: Int
    /// Tokens whose label is not -100 (what the loss is averaged over).
    public var trainedTokens: Int
}

/// Fixed-length training sequences, ready for `TrainableModel.forward(inputIDs:labels:)`:
/// row-major [sequences × sequenceLength], labels unshifted (the model shifts) with -100 ignored.
public struct TrainingDataset: Sendable, Equatable {
    public static let ignoredLabel = -100
    public let sequenceLength: Int
    public let inputIDs: [Int]
    public let labels: [Int]
    public let report: TrainingDataReport

    public var count: Int { inputIDs.count / sequenceLength }

    /// Input ids and labels of the sequences at `indices`, concatenated (one batch).
    public func batch(_ indices: [Int]) -> (inputIDs: [Int], labels: [Int]) {
        var ids: [Int] = [], labs: [Int] = []
        ids.reserveCapacity(indices.count * sequenceLength); labs.reserveCapacity(indices.count * sequenceLength)
        for i in indices {
            let range = i * sequenceLength..<(i + 1) * sequenceLength
            ids += inputIDs[range]; labs += labels[range]
        }
        return (ids, labs)
    }

    /// Text objective (the RE-Adapt paper's): each document encoded as `tokenizer(doc)["input_ids"]`
    /// (with the tokenizer's own post-processor tokens, e.g. Llama's BOS) followed by `eosTokenID`,
    /// all concatenated in order and cut into `sequenceLength` chunks; the last partial chunk is
    /// dropped, as transformers' run_clm `group_texts` does. Labels equal the input ids.
    public static func packText(_ texts: [String], tokenizer: Tokenizer, eosTokenID: Int,
                                sequenceLength: Int) throws -> TrainingDataset {
        guard sequenceLength >= 2 else { throw TrainingDataError.badSequenceLength(sequenceLength) }
        var stream: [Int] = []
        for ids in tokenizer.encodeBatch(texts) { stream += ids; stream.append(eosTokenID) }
        let sequences = stream.count / sequenceLength
        guard sequences > 0 else { throw TrainingDataError.tooFewTokens(tokens: stream.count, sequenceLength: sequenceLength) }
        let kept = Array(stream[0..<sequences * sequenceLength])
        let report = TrainingDataReport(objective: "text", documents: texts.count, tokens: stream.count,
                                        sequences: sequences, sequenceLength: sequenceLength,
                                        tokensDropped: stream.count - kept.count, truncatedSequences: 0,
                                        trainedTokens: kept.count)
        return TrainingDataset(sequenceLength: sequenceLength, inputIDs: kept, labels: kept, report: report)
    }

    /// Chat objective (instruction tuning): one conversation per sequence, rendered with `template`
    /// (no generation prompt) and encoded without added special tokens, as
    /// `apply_chat_template(tokenize=True)` does. Only assistant turns keep their labels: for each
    /// assistant message i, the tokens between `render(messages[:i], addGenerationPrompt: true)`
    /// and `render(messages[:i+1])` — the reply and whatever the template closes it with (e.g.
    /// `<|im_end|>\n`). Sequences longer than `sequenceLength` are cut; shorter ones are padded
    /// with `padTokenID` and label -100.
    public static func maskChats(_ conversations: [TrainingConversation], template: ChatTemplate,
                                 tokenizer: Tokenizer, padTokenID: Int,
                                 sequenceLength: Int) throws -> TrainingDataset {
        guard sequenceLength >= 2 else { throw TrainingDataError.badSequenceLength(sequenceLength) }
        var inputIDs: [Int] = [], labels: [Int] = []
        var tokens = 0, truncated = 0
        for conversation in conversations {
            var (ids, labs) = try maskedTokens(conversation, template: template, tokenizer: tokenizer)
            tokens += ids.count
            if ids.count > sequenceLength {
                truncated += 1
                ids.removeLast(ids.count - sequenceLength); labs.removeLast(labs.count - sequenceLength)
            }
            let fill = sequenceLength - ids.count
            inputIDs += ids; inputIDs += repeatElement(padTokenID, count: fill)
            labels += labs; labels += repeatElement(ignoredLabel, count: fill)
        }
        let report = TrainingDataReport(objective: "chat", documents: conversations.count, tokens: tokens,
                                        sequences: conversations.count, sequenceLength: sequenceLength,
                                        tokensDropped: 0, truncatedSequences: truncated,
                                        trainedTokens: labels.filter { $0 != ignoredLabel }.count)
        return TrainingDataset(sequenceLength: sequenceLength, inputIDs: inputIDs, labels: labels, report: report)
    }

    /// The whole conversation's ids and its labels (-100 outside assistant turns), untruncated.
    static func maskedTokens(_ conversation: TrainingConversation, template: ChatTemplate,
                             tokenizer: Tokenizer) throws -> (ids: [Int], labels: [Int]) {
        let messages = conversation.messages
        func encode(_ prefix: ArraySlice<ChatMessage>, generationPrompt: Bool) throws -> [Int] {
            let text: String
            do { text = try template.render(Array(prefix), addGenerationPrompt: generationPrompt) } catch {
                throw TrainingDataError.template(file: conversation.file, line: conversation.line, reason: "\(error)")
            }
            return tokenizer.encode(text, addSpecialTokens: false)
        }
        let ids = try encode(messages[...], generationPrompt: false)
        var labels = [Int](repeating: ignoredLabel, count: ids.count)
        for (i, message) in messages.enumerated() where message.role == "assistant" {
            // The prefix rule only works when rendering a prefix yields a prefix of the tokens
            // (not true for templates that rewrite earlier turns); refuse rather than mis-mask.
            let before = try encode(messages[..<i], generationPrompt: true)
            let through = try encode(messages[...i], generationPrompt: false)
            guard before.count <= through.count, through.count <= ids.count,
                  ids[..<through.count].elementsEqual(through), through[..<before.count].elementsEqual(before) else {
                throw TrainingDataError.assistantSpanNotAPrefix(file: conversation.file, line: conversation.line)
            }
            for t in before.count..<through.count { labels[t] = ids[t] }
        }
        return (ids, labels)
    }

    /// Reads `files` (see `TrainingDocuments.read`) and builds sequences with `bundle`'s tokenizer:
    /// text packed with the tokenizer's EOS (else the model's first EOS id), chat masked with the
    /// bundle's chat template and padded with the pad token (else that EOS).
    public static func load(files: [URL], bundle: ModelBundle, sequenceLength: Int) throws -> TrainingDataset {
        let documents = try TrainingDocuments.read(files: files)
        guard let eos = bundle.tokenizer.eosTokenID ?? bundle.eosTokenIDs.first else { throw TrainingDataError.noEOSToken }
        switch documents {
        case .text(let texts):
            return try packText(texts, tokenizer: bundle.tokenizer, eosTokenID: eos, sequenceLength: sequenceLength)
        case .chat(let conversations):
            return try maskChats(conversations, template: try bundle.chatTemplate(), tokenizer: bundle.tokenizer,
                                 padTokenID: bundle.tokenizer.padTokenID ?? eos, sequenceLength: sequenceLength)
        }
    }
}
