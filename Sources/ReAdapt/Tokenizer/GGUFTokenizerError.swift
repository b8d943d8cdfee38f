import Foundation

/// Why a GGUF file's metadata cannot be turned into a tokenizer; each description is one sentence
/// naming the file (its last path component) and the problem.
public enum GGUFTokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    case missingKey(file: String, key: String)
    case invalidKey(file: String, key: String, reason: String)
    case unsupportedModel(file: String, model: String)
    case unsupportedPreTokenizer(file: String, pre: String, model: String)
    case unsupportedArchitecture(file: String, architecture: String)

    public var description: String {
        switch self {
        case let .missingKey(file, key):
            return "\(file): has no metadata key \(key), which is needed to build its tokenizer."
        case let .invalidKey(file, key, reason):
            return "\(file): metadata key \(key) is invalid: \(reason)."
        case let .unsupportedModel(file, model):
            return "\(file): uses the tokenizer model \"\(model)\" (tokenizer.ggml.model), but only \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece-style BPE) are supported."
        case let .unsupportedPreTokenizer(file, pre, model):
            return "\(file): uses the pre-tokenizer \"\(pre)\" (tokenizer.ggml.pre) with the \"\(model)\" tokenizer model, which ReAdapt does not support."
        case let .unsupportedArchitecture(file, architecture):
            return "\(file): has a SentencePiece vocabulary for the \"\(architecture)\" architecture, whose tokenizer (Gemma/Phi-3 style) ReAdapt cannot rebuild from GGUF metadata yet."
        }
    }
}
