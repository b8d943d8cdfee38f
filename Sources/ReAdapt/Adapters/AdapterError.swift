import Foundation

/// Everything that can be wrong with an adapter given to `merge` or `--adapter`: the path, its
/// files, or how it fits the base model. Each description is one sentence naming the adapter's
/// file (or directory) and the problem.
public enum AdapterError: Error, CustomStringConvertible, Equatable, Sendable {
    case notFound(path: String)
    case notADirectory(path: String)
    case notAnAdapter(path: String)
    case fullModel(path: String)
    case pickleWeights(file: String)
    case missingWeights(directory: String)
    case invalidConfig(file: String, reason: String)
    case unsupportedPEFTType(path: String, type: String)
    case unsupportedOption(file: String, option: String)
    case unrecognisedTensor(file: String, tensor: String)
    case incompleteModule(file: String, module: String, missing: String)
    case badFactorShape(file: String, tensor: String, shape: [Int], expected: String)
    case rankMismatch(file: String, module: String, configRank: Int, tensorRank: Int)
    case missingTarget(file: String, module: String, tensor: String)
    case shapeMismatch(file: String, tensor: String, adapterShape: [Int], baseShape: [Int])
    case baseMismatch(path: String, recorded: String, found: String)
    case invalidMetadata(file: String, reason: String)
    case missingDeltaTensor(file: String, tensor: String)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "Adapter \(path) does not exist."
        case .notADirectory(let path):
            return "Adapter \(path) is a file; pass the adapter's directory (the one holding adapter_config.json or readapt_delta.json)."
        case .notAnAdapter(let path):
            return "\(path) holds no adapter: it has neither adapter_config.json (a PEFT adapter) nor readapt_delta.json (a readapt delta)."
        case .fullModel(let path):
            return "\(path) is a model directory, not an adapter; make an instruction adapter from a base/instruct pair with `readapt extract` first."
        case .pickleWeights(let file):
            return "\(file) is a PyTorch pickle, which readapt does not read; save the adapter with safe_serialization=True (adapter_model.safetensors)."
        case .missingWeights(let directory):
            return "\(directory) has adapter_config.json but no adapter_model.safetensors."
        case .invalidConfig(let file, let reason):
            return "\(file): \(reason)."
        case .unsupportedPEFTType(let path, let type):
            return "\(path) is a PEFT \(type) adapter; readapt reads LORA adapters only."
        case .unsupportedOption(let file, let option):
            return "\(file) uses PEFT's \(option), which changes how weights merge in a way readapt does not implement."
        case .unrecognisedTensor(let file, let tensor):
            return "\(file) holds tensor '\(tensor)', which is not part of a LoRA adapter readapt understands."
        case .incompleteModule(let file, let module, let missing):
            return "\(file) adapts \(module) but has no \(missing) for it."
        case .badFactorShape(let file, let tensor, let shape, let expected):
            return "\(file): tensor '\(tensor)' has shape \(shape), but \(expected)."
        case .rankMismatch(let file, let module, let configRank, let tensorRank):
            return "\(file) stores rank \(tensorRank) for \(module), but adapter_config.json (r / rank_pattern) gives rank \(configRank)."
        case .missingTarget(let file, let module, let tensor):
            return "\(file) adapts \(module), but the base model has no tensor \(tensor) (an adapter for another architecture?)."
        case .shapeMismatch(let file, let tensor, let adapterShape, let baseShape):
            return "\(file) fits \(tensor) with shape \(adapterShape), but the base stores it with shape \(baseShape) (an adapter for another model size?)."
        case .baseMismatch(let path, let recorded, let found):
            return "\(path) was extracted from a different base: its readapt_delta.json records config.json SHA-256 \(recorded.prefix(12))…, this base's is \(found.prefix(12))…."
        case .invalidMetadata(let file, let reason):
            return "\(file) is not valid readapt delta metadata (\(reason))."
        case .missingDeltaTensor(let file, let tensor):
            return "\(file) lists tensor \(tensor), but the delta's safetensors files do not hold it (incomplete copy?)."
        }
    }
}
