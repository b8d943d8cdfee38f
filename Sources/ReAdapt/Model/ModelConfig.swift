import Foundation

/// A Hugging Face `config.json` for a Llama-family causal LM, exactly as written in the file.
///
/// Every field is optional because files omit whatever equals transformers' default; `ModelSpec`
/// fills those defaults in per `model_type` and derives what the forward pass needs.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var modelType: String?
    public var hiddenSize: Int?
    public var intermediateSize: Int?
    public var numHiddenLayers: Int?
    public var numAttentionHeads: Int?
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var rmsNormEps: Double?
    public var vocabSize: Int?
    public var maxPositionEmbeddings: Int?
    public var tieWordEmbeddings: Bool?
    public var attentionBias: Bool?
    public var mlpBias: Bool?
    public var hiddenAct: String?
    /// Older Gemma files carry this next to `hidden_act`; read only when `hidden_act` is absent.
    public var hiddenActivation: String?
    public var ropeTheta: Double?
    /// The pre-transformers-5 form of the RoPE settings (`rope_theta` then lives at the top level).
    public var ropeScaling: RopeParameters?
    /// The transformers-5 form: `{rope_type, rope_theta, ...}`.
    public var ropeParameters: RopeParameters?
    public var partialRotaryFactor: Double?
    public var slidingWindow: Int?
    public var useSlidingWindow: Bool?
    public var bosTokenId: TokenIDs?
    public var eosTokenId: TokenIDs?
    /// The padding token, whose embedding row transformers zeroes when it initialises a model.
    public var padTokenId: Int?
    /// The standard deviation of transformers' weight initialisation (`_init_weights`).
    public var initializerRange: Double?
    /// Keys the file sets to null. transformers distinguishes them from absent keys: an absent key
    /// takes the class default, null means None (e.g. Mistral's `"sliding_window": null` = no window).
    public var nullKeys: Set<String> = []

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case rmsNormEps = "rms_norm_eps"
        case vocabSize = "vocab_size"
        case maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias"
        case mlpBias = "mlp_bias"
        case hiddenAct = "hidden_act"
        case hiddenActivation = "hidden_activation"
        case ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters"
        case partialRotaryFactor = "partial_rotary_factor"
        case slidingWindow = "sliding_window"
        case useSlidingWindow = "use_sliding_window"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
        case padTokenId = "pad_token_id"
        case initializerRange = "initializer_range"
    }

    public init() {}

    /// Parses config.json bytes; `file` only names the file in errors.
    public static func decode(_ data: Data, file: URL) throws -> ModelConfig {
        do {
            var config = try JSONDecoder().decode(ModelConfig.self, from: data)
            if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                config.nullKeys = Set(object.filter { $0.value is NSNull }.map(\.key))
            }
            return config
        } catch let error as DecodingError {
            throw ModelConfigError.invalidJSON(file: file, detail: describe(error))
        }
    }

    /// Reads and parses a config.json file.
    public static func load(_ file: URL) throws -> ModelConfig {
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw ModelConfigError.unreadable(file: file)
        }
        return try decode(data, file: file)
    }
}

/// RoPE settings in either the `rope_scaling` or the `rope_parameters` form.
public struct RopeParameters: Codable, Sendable, Equatable {
    public var ropeType: String?
    /// Very old files name the type `type`.
    public var type: String?
    public var ropeTheta: Double?
    public var factor: Double?
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    public var originalMaxPositionEmbeddings: Int?
    public var partialRotaryFactor: Double?

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type", type, ropeTheta = "rope_theta", factor
        case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        case partialRotaryFactor = "partial_rotary_factor"
    }

    public init(ropeType: String? = nil, ropeTheta: Double? = nil, factor: Double? = nil,
                lowFreqFactor: Double? = nil, highFreqFactor: Double? = nil,
                originalMaxPositionEmbeddings: Int? = nil) {
        self.ropeType = ropeType
        self.ropeTheta = ropeTheta
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
    }
}

/// A token id field that config files write as null, one integer or a list.
public struct TokenIDs: Codable, Sendable, Equatable {
    public var ids: [Int]

    public init(_ ids: [Int]) { self.ids = ids }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { ids = [] }
        else if let one = try? container.decode(Int.self) { ids = [one] }
        else { ids = try container.decode([Int].self) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if ids.count == 1 { try container.encode(ids[0]) } else { try container.encode(ids) }
    }
}

/// Problems with a model's config.json (or generation_config.json).
public enum ModelConfigError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: URL)
    case invalidJSON(file: URL, detail: String)
    case unsupportedModelType(file: URL, modelType: String)
    case unsupportedOption(file: URL, option: String, value: String)
    case invalidValue(file: URL, field: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let file):
            return "Cannot read \(file.path): the file is missing or unreadable."
        case .invalidJSON(let file, let detail):
            return "\(file.path) is not a valid model config: \(detail)."
        case .unsupportedModelType(let file, let type):
            return "\(file.path) has model_type \"\(type)\", but only llama, mistral, qwen2 and gemma are supported."
        case .unsupportedOption(let file, let option, let value):
            return "\(file.path) sets \(option) to \(value), which ReAdapt does not support."
        case .invalidValue(let file, let field, let reason):
            return "\(file.path) has an invalid \(field): \(reason)."
        }
    }
}

func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.stringValue }.joined(separator: ".")
        return keys.isEmpty ? "" : " at \(keys)"
    }
    switch error {
    case .typeMismatch(_, let c): return "wrong type\(path(c)) (\(c.debugDescription))"
    case .valueNotFound(_, let c): return "missing value\(path(c))"
    case .keyNotFound(let key, let c): return "missing key \(key.stringValue)\(path(c))"
    case .dataCorrupted(let c): return "malformed JSON\(path(c)) (\(c.debugDescription))"
    @unknown default: return "\(error)"
    }
}
