import Foundation

/// The feed-forward activation applied to the gate projection.
public enum Activation: String, Sendable, Equatable {
    /// x·sigmoid(x) (`silu`, `swish`): Llama, Mistral, Qwen2.
    case silu
    /// The tanh approximation of GELU (`gelu_pytorch_tanh`, `gelu_new`): Gemma.
    case geluTanh
    /// Exact erf GELU (`gelu` outside Gemma).
    case gelu
}

/// How rotary frequencies are derived (transformers' `rope_type`).
public enum RopeScaling: Sendable, Equatable {
    case none
    /// Positions divided by `factor` (applied to inv_freq, as transformers does).
    case linear(factor: Double)
    /// Llama 3.1's wavelength-dependent smoothing.
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
}

/// Everything the forward pass needs, with transformers' per-`model_type` defaults filled in and the
/// architecture differences turned into data once, so the forward pass never asks which model it runs.
public struct ModelSpec: Sendable, Equatable {
    public var modelType: String
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var vocabSize: Int
    public var maxPositions: Int
    /// The LM head reuses `model.embed_tokens.weight` (no `lm_head.weight` in the checkpoint).
    public var tiedHead: Bool
    /// q/k/v projections have biases (Qwen2 always; Llama/Gemma when `attention_bias`).
    public var qkvBias: Bool
    /// o_proj has a bias (Llama/Gemma `attention_bias`; never Qwen2).
    public var outputBias: Bool
    /// gate/up/down have biases (Llama `mlp_bias`).
    public var mlpBias: Bool
    public var activation: Activation
    /// RMSNorm multiplies by (1 + w) instead of w (Gemma).
    public var normAddsOne: Bool
    /// Embeddings are multiplied by this (Gemma: sqrt(hidden_size) as F32; otherwise 1).
    public var embeddingScale: Float
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling
    /// Keys older than this many positions are not attended to (Mistral; Qwen2 with use_sliding_window).
    public var slidingWindow: Int?
    public var bosTokenIDs: [Int]
    public var eosTokenIDs: [Int]
    /// The padding token (Gemma's default 0, otherwise none): its embedding row starts at zero
    /// when the model is initialised randomly, as in transformers.
    public var padTokenID: Int? = nil
    /// Standard deviation of random initialisation (`initializer_range`, transformers' default 0.02).
    public var initializerRange: Double = 0.02

    /// Per-model_type defaults from transformers 5.x's configuration_<type>.py.
    private struct Defaults {
        var hidden = 4096, intermediate = 11008, layers = 32, heads = 32
        var kvHeads: Int? = nil, headDim: Int? = nil
        var eps = 1e-6, vocab = 32000, maxPositions = 2048, tied = false
        var act = "silu", bos: [Int] = [1], eos: [Int] = [2], slidingWindow: Int? = nil
    }

    private static func defaults(for type: String) -> Defaults? {
        switch type {
        case "llama": return Defaults()
        case "mistral":
            return Defaults(intermediate: 14336, kvHeads: 8, maxPositions: 4096 * 32, slidingWindow: 4096)
        case "qwen2":
            return Defaults(intermediate: 22016, kvHeads: 32, vocab: 151936, maxPositions: 32768,
                            bos: [], eos: [])
        case "gemma":
            return Defaults(hidden: 3072, intermediate: 24576, layers: 28, heads: 16, kvHeads: 16,
                            headDim: 256, vocab: 256000, maxPositions: 8192, tied: true,
                            act: "gelu_pytorch_tanh", bos: [2], eos: [1])
        default: return nil
        }
    }

    /// Resolves `config` (read from `file`, which is named in errors).
    public init(_ config: ModelConfig, file: URL) throws {
        let type = config.modelType ?? ""
        guard let d = ModelSpec.defaults(for: type) else {
            throw ModelConfigError.unsupportedModelType(file: file, modelType: type.isEmpty ? "(missing)" : type)
        }
        modelType = type
        hiddenSize = config.hiddenSize ?? d.hidden
        intermediateSize = config.intermediateSize ?? d.intermediate
        layerCount = config.numHiddenLayers ?? d.layers
        headCount = config.numAttentionHeads ?? d.heads
        let null = config.nullKeys
        kvHeadCount = config.numKeyValueHeads ?? (null.contains("num_key_value_heads") ? nil : d.kvHeads) ?? headCount
        vocabSize = config.vocabSize ?? d.vocab
        maxPositions = config.maxPositionEmbeddings ?? d.maxPositions
        rmsNormEps = Float(config.rmsNormEps ?? d.eps)
        for (field, value) in [("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
                               ("num_hidden_layers", layerCount), ("num_attention_heads", headCount),
                               ("num_key_value_heads", kvHeadCount), ("vocab_size", vocabSize),
                               ("max_position_embeddings", maxPositions)] where value <= 0 {
            throw ModelConfigError.invalidValue(file: file, field: field, reason: "\(value) is not positive")
        }
        guard headCount % kvHeadCount == 0 else {
            throw ModelConfigError.invalidValue(
                file: file, field: "num_key_value_heads",
                reason: "\(kvHeadCount) does not divide num_attention_heads \(headCount)")
        }
        headDim = config.headDim ?? (null.contains("head_dim") ? nil : d.headDim) ?? hiddenSize / headCount
        guard headDim > 0, headDim % 2 == 0 else {
            throw ModelConfigError.invalidValue(file: file, field: "head_dim", reason: "\(headDim) is not a positive even number")
        }
        tiedHead = config.tieWordEmbeddings ?? d.tied

        // Biases are part of each architecture's code, read from flags where the code reads flags.
        switch type {
        case "qwen2": qkvBias = true; outputBias = false; mlpBias = false
        case "mistral": qkvBias = false; outputBias = false; mlpBias = false
        case "gemma": qkvBias = config.attentionBias ?? false; outputBias = qkvBias; mlpBias = false
        default: qkvBias = config.attentionBias ?? false; outputBias = qkvBias; mlpBias = config.mlpBias ?? false
        }
        normAddsOne = type == "gemma"
        embeddingScale = type == "gemma" ? Float(Double(hiddenSize).squareRoot()) : 1

        let act = config.hiddenAct ?? config.hiddenActivation ?? d.act
        switch act {
        case "silu", "swish": activation = .silu
        case "gelu_pytorch_tanh", "gelu_new": activation = .geluTanh
        // Gemma's code replaces its legacy "gelu" with the tanh approximation.
        case "gelu": activation = type == "gemma" ? .geluTanh : .gelu
        default: throw ModelConfigError.unsupportedOption(file: file, option: "hidden_act", value: "\"\(act)\"")
        }

        // RoPE: rope_scaling (old form) wins over rope_parameters, as in transformers' conversion.
        let rope = config.ropeScaling ?? config.ropeParameters ?? RopeParameters()
        ropeTheta = rope.ropeTheta ?? config.ropeTheta ?? 10_000
        if let partial = rope.partialRotaryFactor ?? config.partialRotaryFactor, partial != 1 {
            throw ModelConfigError.unsupportedOption(file: file, option: "partial_rotary_factor", value: "\(partial)")
        }
        let ropeType = rope.ropeType ?? rope.type ?? "default"
        func required(_ value: Double?, _ name: String) throws -> Double {
            guard let value, value > 0 else {
                throw ModelConfigError.invalidValue(file: file, field: "rope \(name)",
                                                    reason: "rope_type \(ropeType) needs a positive \(name)")
            }
            return value
        }
        switch ropeType {
        case "default": ropeScaling = .none
        case "linear": ropeScaling = .linear(factor: try required(rope.factor, "factor"))
        case "llama3":
            let low = try required(rope.lowFreqFactor, "low_freq_factor")
            let high = try required(rope.highFreqFactor, "high_freq_factor")
            guard high != low else {
                throw ModelConfigError.invalidValue(file: file, field: "rope high_freq_factor",
                                                    reason: "it equals low_freq_factor")
            }
            ropeScaling = .llama3(factor: try required(rope.factor, "factor"), lowFreqFactor: low, highFreqFactor: high,
                                  originalMaxPositions: rope.originalMaxPositionEmbeddings ?? maxPositions)
        default:
            throw ModelConfigError.unsupportedOption(file: file, option: "rope_type", value: "\"\(ropeType)\"")
        }

        // Sliding windows are honoured in attention (keys in (p - window, p] are visible).
        switch type {
        case "mistral": slidingWindow = config.slidingWindow ?? (null.contains("sliding_window") ? nil : d.slidingWindow)
        case "qwen2":
            // Qwen2 applies the window only to layers >= max_window_layers; not supported.
            if config.useSlidingWindow == true {
                throw ModelConfigError.unsupportedOption(file: file, option: "use_sliding_window", value: "true")
            }
            slidingWindow = nil
        default: slidingWindow = nil
        }
        if let w = slidingWindow, w <= 0 {
            throw ModelConfigError.invalidValue(file: file, field: "sliding_window", reason: "\(w) is not positive")
        }
        bosTokenIDs = config.bosTokenId?.ids ?? (null.contains("bos_token_id") ? [] : d.bos)
        eosTokenIDs = config.eosTokenId?.ids ?? (null.contains("eos_token_id") ? [] : d.eos)
        padTokenID = config.padTokenId ?? (null.contains("pad_token_id") || type != "gemma" ? nil : 0)
        if let range = config.initializerRange {
            guard range.isFinite, range >= 0 else {
                throw ModelConfigError.invalidValue(file: file, field: "initializer_range", reason: "\(range) is not a non-negative number")
            }
            // transformers uses `initializer_range or 0.02`, so 0 means the default.
            initializerRange = range == 0 ? 0.02 : range
        }
    }

    /// Rotary inverse frequencies, computed in F32 exactly as transformers' rope init functions do.
    public var inverseFrequencies: [Float] {
        let dim = headDim
        let base = Float(ropeTheta)
        var inv = (0..<(dim / 2)).map { i -> Float in 1 / powf(base, Float(2 * i) / Float(dim)) }
        switch ropeScaling {
        case .none: break
        case .linear(let factor): inv = inv.map { $0 / Float(factor) }
        case .llama3(let factor, let low, let high, let original):
            let f = Float(factor), lowF = Float(low), highF = Float(high), old = Float(original)
            let lowWavelen = old / lowF, highWavelen = old / highF
            inv = inv.map { freq in
                // `scalar / tensor` in PyTorch is reciprocal(tensor) * scalar; mirrored for bitwise agreement.
                let wavelen = (1 / freq) * Float(2 * Double.pi)
                if wavelen < highWavelen { return freq }
                if wavelen > lowWavelen { return freq / f }
                let smooth = ((1 / wavelen) * old - lowF) / (highF - lowF)
                return (1 - smooth) * freq / f + smooth * freq
            }
        }
        return inv
    }

    /// Query/key/value widths in the fused projection output.
    public var queryWidth: Int { headCount * headDim }
    public var kvWidth: Int { kvHeadCount * headDim }
}
