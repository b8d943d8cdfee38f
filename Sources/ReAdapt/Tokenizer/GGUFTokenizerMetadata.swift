import Foundation

/// The tokenizer facts a GGUF file keeps under llama.cpp's `tokenizer.ggml.*` keys, read and
/// checked. Missing or mistyped keys become `GGUFTokenizerError`s naming the file and the key.
struct GGUFTokenizerMetadata {
    let fileName: String
    let architecture: String?
    let model: String                 // tokenizer.ggml.model: "gpt2" or "llama"
    let pre: String?                  // tokenizer.ggml.pre
    let tokens: [String]
    let tokenTypes: [Int]?            // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    let scores: [Double]?
    let merges: [(String, String)]?
    let bosID: Int?, eosID: Int?, unkID: Int?, padID: Int?
    let addBOS: Bool?, addEOS: Bool?
    let chatTemplate: String?

    init(_ file: GGUFFile) throws {
        let name = file.url.lastPathComponent
        fileName = name
        func string(_ key: String) throws -> String? {
            guard let value = file[key] else { return nil }
            guard let s = value.stringValue else { throw GGUFTokenizerError.invalidKey(file: name, key: key, reason: "it is not a string") }
            return s
        }
        func array(_ key: String) throws -> [GGUFValue]? {
            guard let value = file[key] else { return nil }
            guard let a = value.arrayValue else { throw GGUFTokenizerError.invalidKey(file: name, key: key, reason: "it is not an array") }
            return a
        }
        func bool(_ key: String) throws -> Bool? {
            guard let value = file[key] else { return nil }
            if case let .bool(b) = value { return b }
            throw GGUFTokenizerError.invalidKey(file: name, key: key, reason: "it is not a boolean")
        }

        architecture = try string("general.architecture")
        guard let model = try string("tokenizer.ggml.model") else {
            throw GGUFTokenizerError.missingKey(file: name, key: "tokenizer.ggml.model")
        }
        self.model = model
        pre = try string("tokenizer.ggml.pre")

        guard let tokenValues = try array("tokenizer.ggml.tokens") else {
            throw GGUFTokenizerError.missingKey(file: name, key: "tokenizer.ggml.tokens")
        }
        tokens = try tokenValues.enumerated().map { index, value in
            guard let s = value.stringValue else {
                throw GGUFTokenizerError.invalidKey(file: name, key: "tokenizer.ggml.tokens", reason: "entry \(index) is not a string")
            }
            return s
        }
        if tokens.isEmpty { throw GGUFTokenizerError.invalidKey(file: name, key: "tokenizer.ggml.tokens", reason: "it is empty") }

        tokenTypes = try array("tokenizer.ggml.token_type").map { values in
            guard values.count == tokenValues.count else {
                throw GGUFTokenizerError.invalidKey(file: name, key: "tokenizer.ggml.token_type",
                                                    reason: "it has \(values.count) entries for \(tokenValues.count) tokens")
            }
            return try values.enumerated().map { index, value in
                guard let t = value.intValue else {
                    throw GGUFTokenizerError.invalidKey(file: name, key: "tokenizer.ggml.token_type", reason: "entry \(index) is not an integer")
                }
                return t
            }
        }
        scores = try array("tokenizer.ggml.scores").map { values in
            guard values.count == tokenValues.count else {
                throw GGUFTokenizerError.invalidKey(file: name, key: "tokenizer.ggml.scores",
                                                    reason: "it has \(values.count) entries for \(tokenValues.count) tokens")
            }
            return try values.enumerated().map { index, value in
                guard let d = value.doubleValue else {
                    throw GGUFTokenizerError.invalidKey(file: name, key: "tokenizer.ggml.scores", reason: "entry \(index) is not a number")
                }
                return d
            }
        }
        merges = try array("tokenizer.ggml.merges").map { values in
            try values.enumerated().map { index, value in
                // transformers splits each merge on every space and needs exactly two parts.
                let parts = value.stringValue?.split(separator: " ", omittingEmptySubsequences: false)
                guard let parts, parts.count == 2 else {
                    throw GGUFTokenizerError.invalidKey(file: name, key: "tokenizer.ggml.merges",
                                                        reason: "entry \(index) is not two tokens separated by one space")
                }
                return (String(parts[0]), String(parts[1]))
            }
        }

        let count = tokens.count
        func tokenID(_ key: String) throws -> Int? {
            guard let value = file[key] else { return nil }
            guard let id = value.intValue, id >= 0, id < count else {
                throw GGUFTokenizerError.invalidKey(file: name, key: key, reason: "it is not a token id below the vocabulary size \(count)")
            }
            return id
        }
        bosID = try tokenID("tokenizer.ggml.bos_token_id")
        eosID = try tokenID("tokenizer.ggml.eos_token_id")
        unkID = try tokenID("tokenizer.ggml.unknown_token_id")
        padID = try tokenID("tokenizer.ggml.padding_token_id")
        addBOS = try bool("tokenizer.ggml.add_bos_token")
        addEOS = try bool("tokenizer.ggml.add_eos_token")
        chatTemplate = try string("tokenizer.chat_template")
    }
}
