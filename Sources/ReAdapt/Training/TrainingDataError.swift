import Foundation

/// Everything a user's data files can get wrong, each described in one sentence naming the file
/// (and the line, for JSONL).
public enum TrainingDataError: Error, CustomStringConvertible, Equatable, Sendable {
    case noFiles
    case unreadable(file: String, reason: String)
    case empty(file: String)
    case badJSON(file: String, line: Int, reason: String)
    case missingField(file: String, line: Int, reason: String)
    case mixedObjectives(file: String, line: Int)
    case noAssistantMessage(file: String, line: Int)
    case template(file: String, line: Int, reason: String)
    case assistantSpanNotAPrefix(file: String, line: Int)
    case badSequenceLength(Int)
    case tooFewTokens(tokens: Int, sequenceLength: Int)
    case noEOSToken
    case badBatchSize(batchSize: Int, sequences: Int)

    public var description: String {
        switch self {
        case .noFiles:
            return "No training data files were given."
        case let .unreadable(file, reason):
            return "Cannot read training data file \(file): \(reason)."
        case let .empty(file):
            return "Training data file \(file) contains no documents."
        case let .badJSON(file, line, reason):
            return "\(file) line \(line) is not valid JSON (\(reason))."
        case let .missingField(file, line, reason):
            return "\(file) line \(line) \(reason)."
        case let .mixedObjectives(file, line):
            return "\(file) line \(line) mixes chat data (\"messages\") with text data (\"text\" or plain files); train on one kind at a time."
        case let .noAssistantMessage(file, line):
            return "\(file) line \(line) is a conversation without an assistant message, so it has nothing to train on."
        case let .template(file, line, reason):
            return "The chat template cannot render the conversation at \(file) line \(line): \(reason)"
        case let .assistantSpanNotAPrefix(file, line):
            return "The chat template renders the conversation at \(file) line \(line) differently from its own prefixes, so its assistant tokens cannot be located."
        case let .badSequenceLength(length):
            return "The sequence length must be at least 2 tokens, not \(length)."
        case let .tooFewTokens(tokens, length):
            return "The text data has only \(tokens) tokens, fewer than one \(length)-token sequence."
        case .noEOSToken:
            return "The tokenizer has no end-of-sequence token to separate packed documents."
        case let .badBatchSize(batchSize, sequences):
            return "A batch size of \(batchSize) does not fit \(sequences) training sequences (it must be between 1 and the sequence count)."
        }
    }
}
