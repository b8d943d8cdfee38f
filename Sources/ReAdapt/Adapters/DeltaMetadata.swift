import Foundation

/// Which kind of tensor a checkpoint entry is, for `extract --include` and reports.
public enum TensorGroup: String, Codable, CaseIterable, Sendable {
    /// 2-D weights of linear layers (q/k/v/o, gate/up/down projections).
    case linear
    /// model.embed_tokens.weight.
    case embeddings
    /// lm_head.weight (absent, and never counted twice, when tied to the embeddings).
    case head
    /// 1-D RMSNorm / LayerNorm weights.
    case norms
    /// 1-D biases of linear layers.
    case biases
}

/// One source model of an extraction, as recorded in the output so that `merge` can refuse a
/// delta applied to a different base.
public struct DeltaSourceModel: Codable, Equatable, Sendable {
    /// The path given on the command line.
    public var path: String
    /// SHA-256 (hex) of the model's config.json bytes.
    public var configSHA256: String
    public var modelType: String?

    public init(path: String, configSHA256: String, modelType: String?) {
        self.path = path
        self.configSHA256 = configSHA256
        self.modelType = modelType
    }

    enum CodingKeys: String, CodingKey {
        case path
        case configSHA256 = "config_sha256"
        case modelType = "model_type"
    }
}

/// `readapt_delta.json`: written next to every delta checkpoint and LoRE adapter by `extract`.
///
/// A delta checkpoint is a directory with this file plus safetensors in the Hugging Face model
/// layout (`model.safetensors`, or `model-0000k-of-0000N.safetensors` shards and
/// `model.safetensors.index.json`), holding instruct - base under the base's tensor names.
/// It has no config.json, so nothing mistakes it for a model.
public struct DeltaMetadata: Codable, Equatable, Sendable {
    public static let fileName = "readapt_delta.json"
    public static let currentVersion = 1

    public enum Kind: String, Codable, Sendable {
        /// Dense instruct - base for every included tensor.
        case dense
        /// LoRE: a PEFT LoRA adapter for the 2-D linear weights plus a dense companion file.
        case lore
    }

    /// Always "readapt-delta".
    public var format: String
    public var version: Int
    public var kind: Kind
    public var base: DeltaSourceModel
    public var instruct: DeltaSourceModel
    /// safetensors dtype string of the stored deltas ("F32", "BF16", "F16").
    public var dtype: String
    /// Groups that were included.
    public var groups: [TensorGroup]
    /// Every tensor name with a delta, sorted (for LoRE: both the adapter's modules' weights and
    /// the companion's tensors, under base tensor names).
    public var tensors: [String]
    /// True when the models tie lm_head to the embeddings; the delta then has no lm_head entry.
    public var tiedEmbeddings: Bool
    /// Vocabulary sizes; when the instruct model has more rows, the rows past `baseVocabSize`
    /// of the embedding/head deltas hold the instruct rows whole (see `carriedRowTensors`).
    public var baseVocabSize: Int
    public var instructVocabSize: Int
    /// Tensors whose rows >= baseVocabSize are carried whole (merged unscaled) rather than deltas.
    public var carriedRowTensors: [String]

    public init(kind: Kind, base: DeltaSourceModel, instruct: DeltaSourceModel, dtype: String,
                groups: [TensorGroup], tensors: [String], tiedEmbeddings: Bool,
                baseVocabSize: Int, instructVocabSize: Int, carriedRowTensors: [String]) {
        self.format = "readapt-delta"
        self.version = Self.currentVersion
        self.kind = kind
        self.base = base
        self.instruct = instruct
        self.dtype = dtype
        self.groups = groups
        self.tensors = tensors
        self.tiedEmbeddings = tiedEmbeddings
        self.baseVocabSize = baseVocabSize
        self.instructVocabSize = instructVocabSize
        self.carriedRowTensors = carriedRowTensors
    }

    enum CodingKeys: String, CodingKey {
        case format, version, kind, base, instruct, dtype, groups, tensors
        case tiedEmbeddings = "tied_embeddings"
        case baseVocabSize = "base_vocab_size"
        case instructVocabSize = "instruct_vocab_size"
        case carriedRowTensors = "carried_row_tensors"
    }
}
