import Foundation

/// A Hugging Face `tokenizer.json` tokenizer (BPE models) giving the same ids as the `tokenizers`
/// library: added tokens → normalizer → pre-tokenizer → BPE → post-processor, and the decoder
/// chain back to text.
///
/// Thread safety: encoding and decoding may run concurrently (the BPE word cache is locked).
public final class Tokenizer: @unchecked Sendable {
    /// Number of ids, counting added tokens (tokenizers' `get_vocab_size(with_added_tokens=True)`).
    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let padTokenID: Int?
    public let unkTokenID: Int?

    let model: BPEModel
    let normalizer: TextNormalizer?
    let preTokenizer: PreTokenizer?
    let postProcessor: PostProcessor?
    let decoder: TokenDecoder?
    let addedByID: [Int: AddedToken]
    let addedByContent: [[UInt8]: Int]
    let rawTrie: AddedTokenTrie          // tokens matched on the original text
    let normalizedTrie: AddedTokenTrie   // tokens matched on normalized text

    /// Loads `tokenizer.json` from a model directory, and `tokenizer_config.json` (when present)
    /// for the names of the bos/eos/pad/unk tokens.
    public convenience init(directory: URL) throws {
        let config = directory.appendingPathComponent("tokenizer_config.json")
        try self.init(tokenizerJSON: directory.appendingPathComponent("tokenizer.json"),
                      config: FileManager.default.fileExists(atPath: config.path) ? config : nil)
    }

    public convenience init(tokenizerJSON url: URL, config configURL: URL? = nil) throws {
        try self.init(root: try Tokenizer.readJSONObject(url),
                      config: try configURL.map { try Tokenizer.readJSONObject($0) })
    }

    /// A tokenizer from `tokenizer.json` (and optionally `tokenizer_config.json`) contents held in
    /// memory; `name` stands for the file in error messages.
    public convenience init(tokenizerJSONData data: Data, configData: Data? = nil, name: String) throws {
        try self.init(root: try Tokenizer.parseJSONObject(data, path: name),
                      config: try configData.map { try Tokenizer.parseJSONObject($0, path: name + " (tokenizer_config.json)") })
    }

    init(root: JSONObject, config: JSONObject?) throws {

        let modelJSON = try root.object("model")
        model = try BPEModel(json: modelJSON)
        normalizer = try root.optionalObject("normalizer").map(makeNormalizer)
        preTokenizer = try root.optionalObject("pre_tokenizer").map(makePreTokenizer)
        postProcessor = try root.optionalObject("post_processor").map(makePostProcessor)
        decoder = try root.optionalObject("decoder").map(makeDecoder)

        var added: [AddedToken] = []
        if !root.isNull("added_tokens") {
            for entry in try root.objects("added_tokens") {
                added.append(AddedToken(
                    id: try entry.int("id"), content: Array(try entry.string("content").utf8),
                    special: try entry.bool("special", default: false),
                    lstrip: try entry.bool("lstrip", default: false),
                    rstrip: try entry.bool("rstrip", default: false),
                    normalized: try entry.bool("normalized", default: true),
                    singleWord: try entry.bool("single_word", default: false)))
            }
        }
        addedByID = Dictionary(added.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        addedByContent = Dictionary(added.map { ($0.content, $0.id) }, uniquingKeysWith: { _, last in last })
        let raw = added.filter { !$0.normalized }
        rawTrie = AddedTokenTrie(raw, patterns: raw.map(\.content))
        let normalized = added.filter(\.normalized)
        let normalizer = self.normalizer
        normalizedTrie = AddedTokenTrie(normalized, patterns: normalized.map { normalizer?.normalize($0.content) ?? $0.content })

        var maxID = model.tokens.count - 1
        for t in added { maxID = max(maxID, t.id) }
        vocabularySize = maxID + 1

        // Special token names: tokenizer_config.json when given, else the model's unk token.
        var names: [String: String] = [:]
        if let config {
            for key in ["bos_token", "eos_token", "pad_token", "unk_token"] {
                if let s = config[key]?.string {
                    names[key] = s
                } else if let s = config[key]?["content"]?.string {
                    names[key] = s
                }
            }
        }
        let contents = addedByContent, vocab = model.vocab
        let lookup = { (name: String?) -> Int? in
            guard let name else { return nil }
            let bytes = Array(name.utf8)
            return contents[bytes] ?? vocab[bytes].map(Int.init)
        }
        bosTokenID = lookup(names["bos_token"])
        eosTokenID = lookup(names["eos_token"])
        padTokenID = lookup(names["pad_token"])
        unkTokenID = lookup(names["unk_token"] ?? model.unkToken)
    }

    static func readJSONObject(_ url: URL) throws -> JSONObject {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TokenizerError.unreadableFile(path: url.path, reason: "the file does not exist")
        }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: url.path) else {
            throw TokenizerError.unreadableFile(path: url.path, reason: "it is a directory or not readable")
        }
        return try parseJSONObject(data, path: url.path)
    }

    static func parseJSONObject(_ data: Data, path: String) throws -> JSONObject {
        if data.isEmpty { throw TokenizerError.invalidJSON(path: path, reason: "the file is empty") }
        let parsed: JSONValue
        do {
            parsed = try JSONValue.parse(data)
        } catch let error as JSONParseError {
            throw TokenizerError.invalidJSON(path: path, reason: error.description)
        }
        guard let members = parsed.members else {
            throw TokenizerError.invalidJSON(path: path, reason: "the top level is not an object")
        }
        return JSONObject(members, path: path, field: "")
    }

    // MARK: - Encoding

    /// The ids of `text`; with `addSpecialTokens` the post-processor adds its template tokens
    /// (e.g. Llama's `<s>`), as `transformers` does by default.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        let bytes = Array(text.utf8)
        var ids: [Int] = []
        ids.reserveCapacity(bytes.count / 3 + 4)
        for segment in rawTrie.split(bytes) where !segment.range.isEmpty {
            if let id = segment.id { ids.append(id); continue }
            let original = segment.range.count == bytes.count ? bytes : Array(bytes[segment.range])
            let normalizedText = normalizer?.normalize(original) ?? original
            for sub in normalizedTrie.split(normalizedText) where !sub.range.isEmpty {
                if let id = sub.id { ids.append(id); continue }
                let piece = Piece(bytes: sub.range.count == normalizedText.count ? normalizedText : Array(normalizedText[sub.range]),
                                  atTextStart: segment.range.lowerBound == 0 && sub.range.lowerBound == 0)
                tokenize(piece, into: &ids)
            }
        }
        return addSpecialTokens ? (postProcessor?.process(ids) ?? ids) : ids
    }

    /// Encodes many texts on all cores; the result is in input order.
    public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true) -> [[Int]] {
        var results = [[Int]](repeating: [], count: texts.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: texts.count) { i in
            let ids = encode(texts[i], addSpecialTokens: addSpecialTokens)
            lock.lock()
            results[i] = ids
            lock.unlock()
        }
        return results
    }

    private func tokenize(_ piece: Piece, into ids: inout [Int]) {
        guard let preTokenizer else { model.tokenize(piece, into: &ids); return }
        var pieces: [Piece] = []
        preTokenizer.split(piece, into: &pieces)
        for p in pieces { model.tokenize(p, into: &ids) }
    }

    // MARK: - Decoding

    /// The text of `ids` through the decoder chain; unknown ids are skipped, as tokenizers does.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        String(decoding: decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
    }

    func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool) -> [UInt8] {
        var tokens: [[UInt8]] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if let added = addedByID[id] {
                if skipSpecialTokens && added.special { continue }
                tokens.append(added.content)
            } else if id >= 0, id < model.tokens.count, let t = model.tokens[id] {
                tokens.append(t)
            }
        }
        guard let decoder else {
            var out: [UInt8] = []
            for (i, t) in tokens.enumerated() {
                if i > 0 { out.append(0x20) }
                out += t
            }
            return out
        }
        return decoder.decodeChain(tokens).flatMap { $0 }
    }

    // MARK: - Vocabulary

    /// The id of a token string (added tokens first, then the model's vocabulary).
    public func id(forToken token: String) -> Int? {
        let bytes = Array(token.utf8)
        if let id = addedByContent[bytes] { return id }
        return model.vocab[bytes].map(Int.init)
    }

    /// The token string of an id, as stored in the vocabulary (e.g. "Ġthe" or "▁the").
    public func token(forID id: Int) -> String? {
        if let added = addedByID[id] { return String(decoding: added.content, as: UTF8.self) }
        guard id >= 0, id < model.tokens.count, let t = model.tokens[id] else { return nil }
        return String(decoding: t, as: UTF8.self)
    }

    /// Whether an id is a special added token (skipped by `decode(_:skipSpecialTokens: true)`).
    public func isSpecialToken(_ id: Int) -> Bool { addedByID[id]?.special ?? false }
}
