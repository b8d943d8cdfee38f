import Foundation

/// Problems loading a model's weights.
public enum ModelLoadError: Error, CustomStringConvertible, Equatable {
    case missingTensor(source: String, name: String)
    case wrongShape(source: String, name: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .missingTensor(let source, let name):
            return "\(source) has no tensor \(name), which the model needs."
        case .wrongShape(let source, let name, let expected, let found):
            return "\(source) stores \(name) with shape \(found), but the config implies \(expected)."
        }
    }
}

/// One decoder layer's weights, with q/k/v and gate/up fused row-wise into single matrices so that
/// each step is one matrix product (the Hugging Face tensors are concatenated at load time).
struct DecoderLayerWeights {
    var attentionNorm: [Float]
    /// Rows: q_proj, then k_proj, then v_proj.
    var qkv: WeightMatrix
    var qkvBias: [Float]?
    var output: WeightMatrix
    var outputBias: [Float]?
    var mlpNorm: [Float]
    /// Rows: gate_proj, then up_proj.
    var gateUp: WeightMatrix
    var gateUpBias: [Float]?
    var down: WeightMatrix
    var downBias: [Float]?
}

/// A Llama-family causal language model (Llama, Mistral, Qwen2, Gemma) held in memory for inference.
/// Run it through an `InferenceSession`, which owns the KV cache and scratch buffers.
public final class LanguageModel: @unchecked Sendable {
    public let spec: ModelSpec
    /// model.embed_tokens.weight, [vocab, hidden] row-major (rows are looked up per token).
    /// Rows are copied out per token; a tied LM head is this same matrix.
    let embedding: WeightMatrix
    let layers: [DecoderLayerWeights]
    let finalNorm: [Float]
    /// lm_head.weight, or the embedding matrix when the head is tied.
    let head: WeightMatrix

    /// Builds the model from Hugging Face tensor names. `weight(name)` is the single place every
    /// tensor comes from, so an adapter can wrap it to return base + delta for any name.
    /// `sourceName` names the checkpoint in errors. Linear layers are kept in `storage` (default
    /// `WeightStorage.inferenceDefault`; `.f32` reproduces PyTorch's F32 numerics).
    public init(spec: ModelSpec, sourceName: String, storage: WeightStorage? = nil,
                weight: (String) throws -> Tensor) throws {
        self.spec = spec
        let storage = storage ?? WeightStorage.inferenceDefault
        func matrix(_ t: Tensor) -> WeightMatrix { WeightMatrix(t, storage: storage) }
        let h = spec.hiddenSize, inter = spec.intermediateSize
        func load(_ name: String, _ shape: [Int]) throws -> Tensor {
            let t = try weight(name)
            guard t.shape == shape else {
                throw ModelLoadError.wrongShape(source: sourceName, name: name, expected: shape, found: t.shape)
            }
            return t
        }
        func stacked(_ names: [String], _ rows: [Int], columns: Int) throws -> Tensor {
            var scalars: [Float] = []
            scalars.reserveCapacity(rows.reduce(0, +) * columns)
            for (name, r) in zip(names, rows) { scalars += try load(name, [r, columns]).scalars }
            return Tensor(shape: [rows.reduce(0, +), columns], scalars: scalars)
        }
        func biases(_ names: [String], _ sizes: [Int]) throws -> [Float] {
            var all: [Float] = []
            for (name, n) in zip(names, sizes) { all += try load(name, [n]).scalars }
            return all
        }

        let embed = try load("model.embed_tokens.weight", [spec.vocabSize, h])
        embedding = matrix(embed)
        var layers: [DecoderLayerWeights] = []
        let q = spec.queryWidth, kv = spec.kvWidth
        for i in 0..<spec.layerCount {
            let p = "model.layers.\(i)."
            let attn = ["q_proj", "k_proj", "v_proj"].map { p + "self_attn.\($0)" }
            let mlp = ["gate_proj", "up_proj"].map { p + "mlp.\($0)" }
            layers.append(DecoderLayerWeights(
                attentionNorm: try load(p + "input_layernorm.weight", [h]).scalars,
                qkv: matrix(try stacked(attn.map { $0 + ".weight" }, [q, kv, kv], columns: h)),
                qkvBias: spec.qkvBias ? try biases(attn.map { $0 + ".bias" }, [q, kv, kv]) : nil,
                output: matrix(try load(p + "self_attn.o_proj.weight", [h, q])),
                outputBias: spec.outputBias ? try load(p + "self_attn.o_proj.bias", [h]).scalars : nil,
                mlpNorm: try load(p + "post_attention_layernorm.weight", [h]).scalars,
                gateUp: matrix(try stacked(mlp.map { $0 + ".weight" }, [inter, inter], columns: h)),
                gateUpBias: spec.mlpBias ? try biases(mlp.map { $0 + ".bias" }, [inter, inter]) : nil,
                down: matrix(try load(p + "mlp.down_proj.weight", [h, inter])),
                downBias: spec.mlpBias ? try load(p + "mlp.down_proj.bias", [h]).scalars : nil))
        }
        self.layers = layers
        finalNorm = try load("model.norm.weight", [h]).scalars
        head = spec.tiedHead ? embedding : matrix(try load("lm_head.weight", [spec.vocabSize, h]))
    }

    /// Builds the model from any tensor source. `transform(name, tensor)` may replace each tensor
    /// (adapters); tensors the model does not use, such as rotary_emb.inv_freq, are ignored.
    public convenience init(spec: ModelSpec, source: TensorSource, sourceName: String,
                            storage: WeightStorage? = nil,
                            transform: ((String, Tensor) throws -> Tensor)? = nil) throws {
        try self.init(spec: spec, sourceName: sourceName, storage: storage) { name in
            guard source.info(name) != nil else {
                throw ModelLoadError.missingTensor(source: sourceName, name: name)
            }
            let tensor = try source.load(name)
            return try transform?(name, tensor) ?? tensor
        }
    }

    /// Loads config.json and the safetensors weights (single file or shards) from a Hugging Face
    /// model directory, tensor by tensor.
    public static func load(directory: URL, storage: WeightStorage? = nil,
                            transform: ((String, Tensor) throws -> Tensor)? = nil) throws -> LanguageModel {
        let configFile = directory.appendingPathComponent("config.json")
        let spec = try ModelSpec(ModelConfig.load(configFile), file: configFile)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        return try LanguageModel(spec: spec, source: checkpoint, sourceName: directory.path, storage: storage,
                                 transform: transform)
    }

    /// EOS ids for generation: generation_config.json's `eos_token_id` if the directory has one,
    /// else config.json's.
    public static func eosTokenIDs(directory: URL, spec: ModelSpec) throws -> [Int] {
        let file = directory.appendingPathComponent("generation_config.json")
        guard let data = FileManager.default.contents(atPath: file.path) else { return spec.eosTokenIDs }
        struct GenerationConfig: Decodable {
            var eosTokenId: TokenIDs?
            enum CodingKeys: String, CodingKey { case eosTokenId = "eos_token_id" }
        }
        do {
            return try JSONDecoder().decode(GenerationConfig.self, from: data).eosTokenId?.ids ?? spec.eosTokenIDs
        } catch let error as DecodingError {
            throw ModelConfigError.invalidJSON(file: file, detail: describe(error))
        }
    }

    /// A new session (KV cache and buffers) that can hold up to `capacity` positions
    /// (default: max_position_embeddings). Memory grows with use, not with capacity.
    public func makeSession(capacity: Int? = nil) -> InferenceSession {
        InferenceSession(model: self, capacity: capacity ?? spec.maxPositions)
    }
}
