import Foundation

/// Why a path given as a model could not be opened.
public enum ModelBundleError: Error, CustomStringConvertible, Equatable, Sendable {
    case notFound(path: String)
    case notAModel(path: String)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "\(path) does not exist."
        case .notAModel(let path):
            return "\(path) is neither a model directory nor a .gguf file."
        }
    }
}

/// Everything a command needs from a model, whichever form it comes in: a Hugging Face model
/// directory (config.json, safetensors, tokenizer.json, ...) or a single llama-architecture
/// `.gguf` file (tensors dequantized through `GGUFCheckpoint`, tokenizer and chat template rebuilt
/// from its metadata as transformers' GGUF loader does). Weights are only read by `loadModel`.
public struct ModelBundle {
    public enum Kind: Sendable, Equatable { case directory, gguf }

    public let url: URL
    public let kind: Kind
    public let spec: ModelSpec
    public let source: TensorSource
    public let tokenizer: Tokenizer
    /// generation_config.json's `eos_token_id` if present, else the config's (GGUF: its metadata).
    public let eosTokenIDs: [Int]
    /// tokenizer_config.json rebuilt from a GGUF file's metadata (nil for directories).
    private let ggufTokenizerConfig: Data?

    /// Opens `url`: a directory, or a file whose name ends in `.gguf`.
    public init(url: URL) throws {
        self.url = url
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelBundleError.notFound(path: url.path)
        }
        if isDirectory.boolValue {
            kind = .directory
            let configFile = url.appendingPathComponent("config.json")
            spec = try ModelSpec(ModelConfig.load(configFile), file: configFile)
            source = try SafetensorsCheckpoint(directory: url)
            tokenizer = try Tokenizer(directory: url)
            eosTokenIDs = try LanguageModel.eosTokenIDs(directory: url, spec: spec)
            ggufTokenizerConfig = nil
        } else if url.pathExtension.lowercased() == "gguf" {
            kind = .gguf
            let checkpoint = try GGUFCheckpoint(url: url)
            spec = try ModelSpec(checkpoint.config, file: url)
            source = checkpoint
            let files = try GGUFTokenizerFiles.make(from: checkpoint.file)
            tokenizer = try Tokenizer(tokenizerJSONData: files.tokenizerJSON, configData: files.tokenizerConfigJSON,
                                      name: url.lastPathComponent)
            eosTokenIDs = spec.eosTokenIDs
            ggufTokenizerConfig = files.tokenizerConfigJSON
        } else {
            throw ModelBundleError.notAModel(path: url.path)
        }
    }

    /// The model's chat template (`ChatTemplateError.noTemplate` when it has none).
    public func chatTemplate() throws -> ChatTemplate {
        if let ggufTokenizerConfig {
            return try ChatTemplate(tokenizerConfigData: ggufTokenizerConfig, file: url.path)
        }
        return try ChatTemplate(directory: url)
    }

    /// Reads the weights, tensor by tensor, into a runnable model.
    public func loadModel(storage: WeightStorage? = nil,
                          transform: ((String, Tensor) throws -> Tensor)? = nil) throws -> LanguageModel {
        try LanguageModel(spec: spec, source: source, sourceName: url.path, storage: storage, transform: transform)
    }
}
