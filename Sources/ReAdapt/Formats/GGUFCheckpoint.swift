import Foundation

/// A llama-architecture GGUF file seen as a Hugging Face checkpoint: llama.cpp tensor names
/// mapped to transformers' (`blk.0.attn_q.weight` → `model.layers.0.self_attn.q_proj.weight`),
/// every tensor dequantized to F32 in numpy/PyTorch shape, and the q/k row permutation that
/// llama.cpp's `convert_hf_to_gguf.py` applies for its interleaved RoPE undone, so the tensors
/// are the ones transformers would hold. `config` rebuilds a `ModelConfig` from the metadata.
///
/// Tensors without a Hugging Face counterpart are not listed. Files with llama.cpp's precomputed
/// `rope_freqs.weight` (Llama 3.1-style RoPE scaling) are refused rather than run with plain RoPE.
/// `info` reports quantized tensors as F32, the dtype `load` returns them in.
public final class GGUFCheckpoint: TensorSource, @unchecked Sendable {
    public let file: GGUFFile
    public let config: ModelConfig
    /// Hugging Face name → llama.cpp name.
    private let ggufNames: [String: String]
    public let tensorNames: [String]

    public convenience init(url: URL) throws {
        try self.init(file: GGUFFile(url: url))
    }

    public init(file: GGUFFile) throws {
        self.file = file
        let architecture = file["general.architecture"]?.stringValue ?? "(missing)"
        guard architecture == "llama" else {
            throw GGUFError.unsupportedArchitecture(file: file.fileName, architecture: architecture)
        }
        guard file.tensor("rope_freqs.weight") == nil else {
            throw GGUFError.unsupportedRopeFrequencies(file: file.fileName)
        }
        var names: [String: String] = [:]
        for tensor in file.tensors {
            if let hf = GGUFCheckpoint.huggingFaceName(tensor.name) { names[hf] = tensor.name }
        }
        ggufNames = names
        tensorNames = names.keys.sorted()
        config = try GGUFCheckpoint.makeConfig(file, tiedHead: file.tensor("output.weight") == nil)
    }

    /// transformers' name for a llama.cpp tensor name, or nil if it has none.
    public static func huggingFaceName(_ gguf: String) -> String? {
        switch gguf {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = gguf.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0,
              String(layer) == parts[1], parts[3] == "weight" || parts[3] == "bias" else { return nil }
        let module: String
        switch parts[2] {
        case "attn_q": module = "self_attn.q_proj"
        case "attn_k": module = "self_attn.k_proj"
        case "attn_v": module = "self_attn.v_proj"
        case "attn_output": module = "self_attn.o_proj"
        case "ffn_gate": module = "mlp.gate_proj"
        case "ffn_up": module = "mlp.up_proj"
        case "ffn_down": module = "mlp.down_proj"
        case "attn_norm": module = "input_layernorm"
        case "ffn_norm": module = "post_attention_layernorm"
        default: return nil
        }
        return "model.layers.\(layer).\(module).\(parts[3])"
    }

    public func info(_ name: String) -> TensorInfo? {
        guard let gguf = ggufNames[name], let tensor = file.tensor(gguf) else { return nil }
        let dtype: DType = tensor.type == .f16 ? .f16 : tensor.type == .bf16 ? .bf16 : .f32
        return TensorInfo(name: name, dtype: dtype, shape: tensor.shape)
    }

    /// The tensor in F32 with transformers' shape and row order.
    public func load(_ name: String) throws -> Tensor {
        guard let gguf = ggufNames[name] else { throw GGUFError.tensorNotFound(file: file.fileName, tensor: name) }
        let tensor = try file.dequantize(gguf)
        if gguf.hasSuffix(".attn_q.weight") || gguf.hasSuffix(".attn_q.bias") {
            return try unpermute(tensor, heads: config.numAttentionHeads ?? 0, name: gguf)
        }
        if gguf.hasSuffix(".attn_k.weight") || gguf.hasSuffix(".attn_k.bias") {
            return try unpermute(tensor, heads: config.numKeyValueHeads ?? config.numAttentionHeads ?? 0, name: gguf)
        }
        return tensor
    }

    /// Undoes llama.cpp's `LlamaModel.permute`: within each head's block of rows, GGUF row 2i + j
    /// holds Hugging Face row j·(headDim/2) + i (the rotation pairs are interleaved in llama.cpp
    /// and split in halves in transformers).
    func unpermute(_ tensor: Tensor, heads: Int, name: String) throws -> Tensor {
        let rows = tensor.shape.first ?? 0
        let columns = rows == 0 ? 0 : tensor.scalars.count / rows
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw GGUFError.inconsistentTensor(file: file.fileName, tensor: name,
                                               reason: "has \(rows) rows, which \(heads) heads of even size cannot split")
        }
        let headDim = rows / heads, half = headDim / 2
        var out = [Float](repeating: 0, count: tensor.scalars.count)
        tensor.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for h in 0..<heads {
                    for i in 0..<half {
                        for j in 0..<2 {
                            let from = (h * headDim + 2 * i + j) * columns
                            let to = (h * headDim + j * half + i) * columns
                            for c in 0..<columns { dst[to + c] = src[from + c] }
                        }
                    }
                }
            }
        }
        return Tensor(shape: tensor.shape, scalars: out)
    }

    /// transformers' config for the file, from the `llama.*` and `tokenizer.ggml.*` metadata.
    static func makeConfig(_ file: GGUFFile, tiedHead: Bool) throws -> ModelConfig {
        func int(_ key: String) throws -> Int {
            guard let value = file[key] else { throw GGUFError.missingMetadata(file: file.fileName, key: key) }
            guard let n = value.intValue, n > 0 else {
                throw GGUFError.invalidMetadata(file: file.fileName, key: key, reason: "is \(value), not a positive integer")
            }
            return n
        }
        func optionalInt(_ key: String) throws -> Int? { file[key] == nil ? nil : try int(key) }
        func double(_ key: String) throws -> Double? {
            guard let value = file[key] else { return nil }
            guard let x = value.doubleValue, x.isFinite, x > 0 else {
                throw GGUFError.invalidMetadata(file: file.fileName, key: key, reason: "is \(value), not a positive number")
            }
            return x
        }
        var config = ModelConfig()
        config.modelType = "llama"
        config.hiddenSize = try int("llama.embedding_length")
        config.intermediateSize = try int("llama.feed_forward_length")
        config.numHiddenLayers = try int("llama.block_count")
        config.numAttentionHeads = try int("llama.attention.head_count")
        config.numKeyValueHeads = try optionalInt("llama.attention.head_count_kv") ?? config.numAttentionHeads
        config.headDim = try optionalInt("llama.attention.key_length")
        config.rmsNormEps = try double("llama.attention.layer_norm_rms_epsilon")
        config.ropeTheta = try double("llama.rope.freq_base")
        config.maxPositionEmbeddings = try optionalInt("llama.context_length")
        if let tokens = file["tokenizer.ggml.tokens"] {
            guard let list = tokens.arrayValue else {
                throw GGUFError.invalidMetadata(file: file.fileName, key: "tokenizer.ggml.tokens", reason: "is not an array")
            }
            config.vocabSize = list.count
        } else {
            config.vocabSize = try optionalInt("llama.vocab_size")
        }
        if let embed = file.tensor("token_embd.weight"), let vocab = config.vocabSize, embed.shape.first != vocab {
            throw GGUFError.inconsistentTensor(file: file.fileName, tensor: "token_embd.weight",
                                               reason: "has \(embed.shape.first ?? 0) rows but the vocabulary has \(vocab) tokens")
        }
        config.tieWordEmbeddings = tiedHead
        config.attentionBias = file.tensor("blk.0.attn_q.bias") != nil
        config.hiddenAct = "silu"
        if let type = file["llama.rope.scaling.type"]?.stringValue, type != "none" {
            guard type == "linear", let factor = try double("llama.rope.scaling.factor") else {
                throw GGUFError.invalidMetadata(file: file.fileName, key: "llama.rope.scaling.type",
                                                reason: "is '\(type)', which ReAdapt cannot map to a transformers RoPE setting")
            }
            config.ropeScaling = RopeParameters(ropeType: "linear", factor: factor)
        }
        // Absent ids mean "none" in transformers' config, not the Llama class defaults.
        for (key, field) in [("tokenizer.ggml.bos_token_id", "bos_token_id"), ("tokenizer.ggml.eos_token_id", "eos_token_id")] {
            if let value = file[key] {
                guard let id = value.intValue, id >= 0 else {
                    throw GGUFError.invalidMetadata(file: file.fileName, key: key, reason: "is \(value), not a token id")
                }
                if field == "bos_token_id" { config.bosTokenId = TokenIDs([id]) } else { config.eosTokenId = TokenIDs([id]) }
            } else {
                config.nullKeys.insert(field)
            }
        }
        return config
    }
}
