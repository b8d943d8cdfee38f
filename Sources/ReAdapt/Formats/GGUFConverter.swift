import Foundation

/// Why a GGUF → Hugging Face conversion could not run.
public enum GGUFConvertError: Error, CustomStringConvertible, Equatable, Sendable {
    case unsupportedDType(String)

    public var description: String {
        switch self {
        case .unsupportedDType(let name):
            return "'\(name)' is not a dtype convert can write (use f32, f16 or bf16)."
        }
    }
}

/// Writes a llama-architecture GGUF file as a Hugging Face model directory that transformers
/// loads with `from_pretrained(dir)`: config.json, model.safetensors (tensors dequantized and
/// un-permuted by `GGUFCheckpoint`, stored as `dtype`), tokenizer.json and tokenizer_config.json
/// (with the chat template) rebuilt from the metadata, and generation_config.json.
///
/// Tensors are streamed one at a time (only one dequantized tensor is in memory). Everything is
/// written into a hidden sibling directory that is renamed to `output` only when complete, so a
/// failed or interrupted conversion never leaves a directory that looks finished. The weights
/// go into one file whatever their size (no sharding yet).
public enum GGUFConverter {
    /// Converts `gguf` into `output`. An existing `output` that is a non-empty directory (or a
    /// file) is refused unless `replace`. `progress(i, n, name)` is called before tensor i of n;
    /// if it throws, the conversion stops, leaves nothing behind and rethrows.
    public static func convert(gguf: URL, output: URL, dtype: DType = .bf16, replace: Bool = false,
                               progress: ((Int, Int, String) throws -> Void)? = nil) throws {
        guard [.f32, .f16, .bf16].contains(dtype) else { throw GGUFConvertError.unsupportedDType(dtype.rawValue) }
        // Refuses an existing output before any work; deleted again unless committed.
        let staging = try StagingDirectory(output: output, replace: replace)
        let checkpoint = try GGUFCheckpoint(url: gguf)
        _ = try ModelSpec(checkpoint.config, file: gguf)   // refuse what ReAdapt itself could not run
        let tokenizerFiles = try GGUFTokenizerFiles.make(from: checkpoint.file)

        try staging.write(configJSON(checkpoint.config, dtype: dtype), to: "config.json")
        try staging.write(generationConfigJSON(checkpoint.config), to: "generation_config.json")
        try staging.write(tokenizerFiles.tokenizerJSON, to: "tokenizer.json")
        try staging.write(tokenizerFiles.tokenizerConfigJSON, to: "tokenizer_config.json")

        let infos = try checkpoint.tensorNames.map { name -> TensorInfo in
            guard let info = checkpoint.info(name) else {
                throw GGUFError.tensorNotFound(file: checkpoint.file.fileName, tensor: name)
            }
            return TensorInfo(name: name, dtype: dtype, shape: info.shape)
        }
        let writer = try SafetensorsWriter(url: staging.file("model.safetensors"), tensors: infos,
                                           metadata: ["format": "pt"])
        for (i, info) in infos.enumerated() {
            try progress?(i + 1, infos.count, info.name)
            try writer.write(info.name, checkpoint.load(info.name))
        }
        try writer.finish()

        try staging.commit()
    }

    /// config.json as transformers writes it for LlamaForCausalLM: every field of our config
    /// (null where the GGUF file says "none"), plus the ones transformers expects to find.
    static func configJSON(_ config: ModelConfig, dtype: DType) throws -> Data {
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as? [String: Any] ?? [:]
        for key in config.nullKeys where object[key] == nil { object[key] = NSNull() }
        object["architectures"] = ["LlamaForCausalLM"]
        object["model_type"] = config.modelType ?? "llama"
        if object["head_dim"] == nil, let hidden = config.hiddenSize, let heads = config.numAttentionHeads {
            object["head_dim"] = hidden / heads
        }
        object["mlp_bias"] = config.mlpBias ?? false
        object["attention_dropout"] = 0.0
        object["initializer_range"] = config.initializerRange ?? 0.02
        object["pretraining_tp"] = 1
        object["use_cache"] = true
        object["dtype"] = ["F32": "float32", "F16": "float16", "BF16": "bfloat16"][dtype.rawValue] ?? "float32"
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// generation_config.json with the bos/eos ids (null where the file has none).
    static func generationConfigJSON(_ config: ModelConfig) throws -> Data {
        func ids(_ value: TokenIDs?) -> Any {
            guard let ids = value?.ids else { return NSNull() }
            return ids.count == 1 ? ids[0] : ids
        }
        let object: [String: Any] = ["bos_token_id": ids(config.bosTokenId), "eos_token_id": ids(config.eosTokenId)]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
