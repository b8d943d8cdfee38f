import Foundation

/// Everything that can go wrong while loading or using a `tokenizer.json`, each described in one
/// sentence that names the file and the problem.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case unreadableFile(path: String, reason: String)
    case invalidJSON(path: String, reason: String)
    case missingField(path: String, field: String)
    case invalidField(path: String, field: String, reason: String)
    case unsupportedComponent(path: String, kind: String, type: String)
    case invalidRegex(path: String, pattern: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason):
            return "Cannot read tokenizer file \(path): \(reason)."
        case let .invalidJSON(path, reason):
            return "Tokenizer file \(path) is not valid JSON: \(reason)."
        case let .missingField(path, field):
            return "Tokenizer file \(path) lacks the required field \"\(field)\"."
        case let .invalidField(path, field, reason):
            return "Tokenizer file \(path) has an invalid \"\(field)\": \(reason)."
        case let .unsupportedComponent(path, kind, type):
            return "Tokenizer file \(path) uses the \(kind) \"\(type)\", which ReAdapt does not support."
        case let .invalidRegex(path, pattern, reason):
            return "Tokenizer file \(path) has a regex pattern \(pattern) that cannot be compiled: \(reason)."
        }
    }
}
