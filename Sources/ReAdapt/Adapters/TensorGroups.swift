import Foundation

extension TensorGroup {
    /// The group of a Hugging Face checkpoint tensor, from its name and shape:
    /// `embed_tokens` → embeddings, `lm_head` → head, 1-D `*.bias` → biases, other 1-D → norms,
    /// everything else (2-D projection weights) → linear.
    public static func classify(name: String, shape: [Int]) -> TensorGroup {
        let parts = name.split(separator: ".")
        if parts.contains("embed_tokens") { return .embeddings }
        if parts.contains("lm_head") { return .head }
        if shape.count <= 1 { return name.hasSuffix(".bias") ? .biases : .norms }
        return .linear
    }

    /// Parses `--include`'s comma list ("linear,norms"); nil or "all" means every group.
    /// Throws one sentence naming an unknown group.
    public static func parseList(_ text: String?) throws -> [TensorGroup] {
        guard let text, text.lowercased() != "all" else { return TensorGroup.allCases }
        var groups: [TensorGroup] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let word = part.trimmingCharacters(in: .whitespaces).lowercased()
            guard let group = TensorGroup(rawValue: word) else {
                throw TensorGroupListError(word: word)
            }
            if !groups.contains(group) { groups.append(group) }
        }
        return TensorGroup.allCases.filter(groups.contains)
    }
}

/// An `--include` list naming a group that does not exist.
public struct TensorGroupListError: Error, CustomStringConvertible, Equatable {
    public let word: String
    public var description: String {
        let known = TensorGroup.allCases.map(\.rawValue).joined(separator: ", ")
        return "'\(word)' is not a tensor group; use a comma list of \(known) (or all)."
    }
}
