import Foundation

/// Rebuilds a Hugging Face `tokenizer.json` and `tokenizer_config.json` from a GGUF file's
/// `tokenizer.ggml.*` metadata, the way transformers' GGUF loader (`AutoTokenizer.from_pretrained(
/// dir, gguf_file=...)`, transformers 5.23) does, so the ids match transformers exactly:
///
/// - `tokenizer.ggml.model` "gpt2": byte-level BPE (GPT2Tokenizer). Tokens not spelled in the
///   GPT-2 byte alphabet are respelled into it. `tokenizer.ggml.pre` picks the pre-tokenizer:
///   Llama-3 and Qwen2 style names get Split(regex) + ByteLevel, GPT-2 style names ByteLevel.
/// - "llama": SentencePiece-style BPE with byte fallback (LlamaTokenizer): Metaspace pre-tokenizer,
///   merges from the file or derived from the scores as transformers' `generate_merges` does.
/// - Control tokens become special added tokens, user-defined ones plain added tokens; the
///   tokens named by the bos/eos/unk/pad ids are special too.
public enum GGUFTokenizerFiles {
    /// The two files' contents (UTF-8 JSON), loadable by `Tokenizer(tokenizerJSONData:...)`,
    /// Python `tokenizers.Tokenizer.from_str` and transformers.
    public static func make(from file: GGUFFile) throws -> (tokenizerJSON: Data, tokenizerConfigJSON: Data) {
        let meta = try GGUFTokenizerMetadata(file)
        let spec = try GGUFTokenizerSpec(meta)
        return (Data(spec.tokenizerJSON()), Data(spec.tokenizerConfigJSON()))
    }
}

extension Tokenizer {
    /// The tokenizer a GGUF file describes, as transformers builds it from the same file.
    public convenience init(gguf file: GGUFFile) throws {
        let files = try GGUFTokenizerFiles.make(from: file)
        try self.init(tokenizerJSONData: files.tokenizerJSON, configData: files.tokenizerConfigJSON,
                      name: file.url.lastPathComponent)
    }
}

/// `tokenizer.ggml.pre` names and the Split regex transformers gives them (nil: GPT-2's ByteLevel regex).
private let byteLevelPreTokenizers: [String: String?] = {
    var table: [String: String?] = [:]
    for name in ["default", "gpt-2", "gpt2", "smollm", "starcoder", "refact", "olmo", "phi-2", "codeshell"] {
        table[name] = .some(nil)
    }
    for name in ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                 "jina-v5-nano", "dbrx", "smaug-bpe"] {
        table[name] = .some(KnownPattern.llama3)
    }
    for name in ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"] {
        table[name] = .some(KnownPattern.qwen2)
    }
    return table
}()

/// Names transformers maps to a Split regex (so a SentencePiece vocabulary with one of them would
/// get a byte-level pre-tokenizer); refused for "llama" vocabularies.
private let splitRegexPreNames: Set<String> = [
    "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
    "dbrx", "smaug-bpe", "tekken", "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "qwen35",
    "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2",
]

/// The decided shape of the tokenizer: vocabulary, merges, added tokens and components.
struct GGUFTokenizerSpec {
    struct Added { var id: Int; var content: String; var special: Bool }

    let meta: GGUFTokenizerMetadata
    let byteLevel: Bool
    let splitRegex: String?            // byte-level only
    let vocab: [(token: String, id: Int)]
    let merges: [(String, String)]
    let added: [Added]
    let addBOS: Bool, addEOS: Bool

    init(_ meta: GGUFTokenizerMetadata) throws {
        self.meta = meta
        switch meta.model {
        case "gpt2":
            byteLevel = true
            let pre = meta.pre ?? "default"
            guard let regex = byteLevelPreTokenizers[pre] else {
                throw GGUFTokenizerError.unsupportedPreTokenizer(file: meta.fileName, pre: pre, model: meta.model)
            }
            splitRegex = regex
        case "llama":
            if let arch = meta.architecture, ["gemma", "gemma2", "gemma3", "phi3"].contains(arch) {
                throw GGUFTokenizerError.unsupportedArchitecture(file: meta.fileName, architecture: arch)
            }
            if let pre = meta.pre, splitRegexPreNames.contains(pre) {
                throw GGUFTokenizerError.unsupportedPreTokenizer(file: meta.fileName, pre: pre, model: meta.model)
            }
            byteLevel = false
            splitRegex = nil
        default:
            throw GGUFTokenizerError.unsupportedModel(file: meta.fileName, model: meta.model)
        }

        // The vocabulary as a Python dict {token: index}: a repeated token keeps its last index.
        let spelled = byteLevel ? meta.tokens.map(GGUFTokenizerSpec.byteLevelSpelling) : meta.tokens
        var index: [String: Int] = [:]
        for (i, t) in spelled.enumerated() { index[t] = i }
        vocab = spelled.enumerated().filter { index[$0.element] == $0.offset }.map { ($0.element, $0.offset) }

        if let fileMerges = meta.merges {
            merges = fileMerges
        } else if !byteLevel, let scores = meta.scores {
            merges = GGUFTokenizerSpec.derivedMerges(tokens: meta.tokens, scores: scores, index: index)
        } else {
            throw GGUFTokenizerError.missingKey(file: meta.fileName,
                                                key: byteLevel ? "tokenizer.ggml.merges" : "tokenizer.ggml.merges or tokenizer.ggml.scores")
        }

        // Added tokens in the order transformers adds them; a later addition of the same content wins.
        var byContent: [String: Added] = [:]
        var nextID = meta.tokens.count
        func add(_ content: String, special: Bool) {
            let id: Int
            if let existing = byContent[content] { id = existing.id } else if let v = index[content] { id = v } else { id = nextID; nextID += 1 }
            byContent[content] = Added(id: id, content: content, special: special)
        }
        for id in [meta.bosID, meta.eosID, meta.unkID, meta.padID].compactMap({ $0 }) {
            add(meta.tokens[id], special: true)
        }
        if let types = meta.tokenTypes {
            for (token, type) in zip(meta.tokens, types) where type == 3 {
                // A control token outside the byte alphabet is a llama.cpp mislabel; transformers skips it.
                if byteLevel && GGUFTokenizerSpec.byteLevelSpelling(token) != token { continue }
                add(token, special: true)
            }
            for (token, type) in zip(meta.tokens, types) where type == 4 && (index[token] != nil || byContent[token] != nil) {
                add(token, special: byContent[token]?.special ?? false)
            }
        }
        added = byContent.values.sorted { $0.id < $1.id }

        // llama.cpp adds BOS to a SentencePiece vocabulary unless the file says otherwise.
        addBOS = meta.addBOS ?? !byteLevel
        addEOS = meta.addEOS ?? false
    }

    /// The token as the byte-level vocabulary spells it: unchanged when every character is in
    /// the GPT-2 byte alphabet, else its UTF-8 bytes mapped into that alphabet.
    static func byteLevelSpelling(_ token: String) -> String {
        if token.unicodeScalars.allSatisfy({ ByteLevelAlphabet.byteForScalar[$0.value] != nil }) { return token }
        return String(decoding: ByteLevelAlphabet.encode(Array(token.utf8)), as: UTF8.self)
    }

    /// Merges implied by a SentencePiece vocabulary, as transformers' `generate_merges(vocab,
    /// scores)`: every split of a token into two vocabulary tokens, best score first, then longer
    /// left and right pieces first, otherwise in vocabulary order.
    static func derivedMerges(tokens: [String], scores: [Double], index: [String: Int]) -> [(String, String)] {
        var score: [String: Double] = [:]
        var order: [String] = []
        for (t, s) in zip(tokens, scores) {
            if score[t] == nil { order.append(t) }
            score[t] = s
        }
        var candidates: [(left: String, right: String, score: Double, leftLength: Int, rightLength: Int)] = []
        for merged in order {
            let scalars = Array(merged.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(left: String, right: String, leftID: Int, rightID: Int, leftLength: Int)] = []
            for cut in 1..<scalars.count {
                var left = String.UnicodeScalarView(), right = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<cut])
                right.append(contentsOf: scalars[cut...])
                let l = String(left), r = String(right)
                if let li = index[l], let ri = index[r] { local.append((l, r, li, ri, cut)) }
            }
            let sortedLocal = local.enumerated().sorted {
                ($0.element.leftID, $0.element.rightID, $0.offset) < ($1.element.leftID, $1.element.rightID, $1.offset)
            }
            for (_, m) in sortedLocal {
                candidates.append((m.left, m.right, score[merged]!, m.leftLength, scalars.count - m.leftLength))
            }
        }
        // Python's stable sort with reverse=True: descending keys, ties keep their order.
        let ranked = candidates.enumerated().sorted { a, b in
            let x = a.element, y = b.element
            if x.score != y.score { return x.score > y.score }
            if x.leftLength != y.leftLength { return x.leftLength > y.leftLength }
            if x.rightLength != y.rightLength { return x.rightLength > y.rightLength }
            return a.offset < b.offset
        }
        return ranked.map { ($0.element.left, $0.element.right) }
    }
}
