import Foundation

/// One model of a base/instruct pair: its config and its tensors, opened but not read.
public struct PairedModel {
    /// "base" or "instruct", for messages.
    public let role: String
    /// The path as the user gave it (recorded in the delta's metadata).
    public let path: String
    public let config: ModelConfig
    /// `model_type` and `architectures` exactly as config.json has them.
    public let modelType: String?
    public let architectures: [String]?
    /// SHA-256 of config.json's bytes (of the config rebuilt from the metadata for a .gguf file).
    public let configSHA256: String
    public let source: TensorSource
    /// Tensor names in storage order (file by file, by data offset), the order deltas are written.
    public let storageOrder: [String]

    public var sourceModel: DeltaSourceModel {
        DeltaSourceModel(path: path, configSHA256: configSHA256, modelType: modelType)
    }

    /// Opens a Hugging Face model directory (config.json + safetensors) or a llama `.gguf` file.
    public init(role: String, path: String) throws {
        self.role = role
        self.path = path
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelPairError.notFound(role: role, path: path)
        }
        do {
            if isDirectory.boolValue {
                let configFile = url.appendingPathComponent("config.json")
                guard let data = FileManager.default.contents(atPath: configFile.path) else {
                    throw ModelPairError.notAModel(role: role, path: path)
                }
                config = try ModelConfig.decode(data, file: configFile)
                let raw = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
                architectures = raw?["architectures"] as? [String]
                configSHA256 = SHA256.hex(data)
                let checkpoint = try SafetensorsCheckpoint(directory: url)
                source = checkpoint
                storageOrder = checkpoint.files.flatMap { file in
                    file.entries.map(\.info.name).filter { checkpoint.file(containing: $0) === file }
                }
            } else if url.pathExtension.lowercased() == "gguf" {
                let checkpoint = try GGUFCheckpoint(url: url)
                config = checkpoint.config
                architectures = nil
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                configSHA256 = SHA256.hex(try encoder.encode(checkpoint.config))
                source = checkpoint
                storageOrder = checkpoint.tensorNames
            } else {
                throw ModelPairError.notAModel(role: role, path: path)
            }
        } catch let error as ModelPairError {
            throw error
        } catch {
            throw ModelPairError.cannotOpen(role: role, path: path, reason: String(describing: error))
        }
        modelType = config.modelType
    }

    /// A model from parts (tests use it to wrap a source).
    init(role: String, path: String, config: ModelConfig, configSHA256: String, source: TensorSource,
         storageOrder: [String]) {
        self.role = role
        self.path = path
        self.config = config
        self.modelType = config.modelType
        self.architectures = nil
        self.configSHA256 = configSHA256
        self.source = source
        self.storageOrder = storageOrder
    }

    /// The model's resolved shape parameters (transformers' per-model_type defaults filled in
    /// when the type is one ReAdapt runs), as (config key, value) in a fixed order.
    func shapeFields() -> [(String, String)] {
        func text<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "unset" }
        if let spec = try? ModelSpec(config, file: URL(fileURLWithPath: path)) {
            return [("hidden_size", "\(spec.hiddenSize)"), ("num_hidden_layers", "\(spec.layerCount)"),
                    ("num_attention_heads", "\(spec.headCount)"), ("num_key_value_heads", "\(spec.kvHeadCount)"),
                    ("head_dim", "\(spec.headDim)"), ("intermediate_size", "\(spec.intermediateSize)"),
                    ("tie_word_embeddings", "\(spec.tiedHead)")]
        }
        return [("hidden_size", text(config.hiddenSize)), ("num_hidden_layers", text(config.numHiddenLayers)),
                ("num_attention_heads", text(config.numAttentionHeads)),
                ("num_key_value_heads", text(config.numKeyValueHeads)), ("head_dim", text(config.headDim)),
                ("intermediate_size", text(config.intermediateSize)),
                ("tie_word_embeddings", text(config.tieWordEmbeddings))]
    }
}

/// One tensor of a checked pair.
public struct PairedTensor: Equatable, Sendable {
    public let name: String
    public let group: TensorGroup
    public let baseShape: [Int]
    /// The delta's shape: the instruct shape (more rows than the base for extra vocabulary).
    public let deltaShape: [Int]
    public let baseDType: DType
    /// Rows >= baseShape[0] are the instruct rows whole, not differences.
    public var carriesRows: Bool { deltaShape != baseShape }
}

/// A base and an instruct model checked to be the same architecture with the same tensors, so
/// instruct - base is defined tensor by tensor. Every check runs in `init`, before anything is
/// written; each failure is one sentence naming both paths.
public struct ModelPair {
    public let base: PairedModel
    public let instruct: PairedModel
    /// lm_head is tied to the embeddings (config flag, or no lm_head in either checkpoint); it
    /// then never gets a delta of its own.
    public let tiedEmbeddings: Bool
    /// Rows of the embedding matrix (config vocab_size when there is none).
    public let baseVocabSize: Int
    public let instructVocabSize: Int
    /// Every tensor with a delta, in the base's storage order.
    public let tensors: [PairedTensor]

    public init(basePath: String, instructPath: String) throws {
        try self.init(base: PairedModel(role: "base", path: basePath),
                      instruct: PairedModel(role: "instruct", path: instructPath))
    }

    public init(base: PairedModel, instruct: PairedModel) throws {
        self.base = base
        self.instruct = instruct
        func mismatch(_ field: String, _ a: String, _ b: String) -> ModelPairError {
            .configMismatch(base: base.path, instruct: instruct.path, field: field, baseValue: a, instructValue: b)
        }
        let typeA = base.modelType ?? "unset", typeB = instruct.modelType ?? "unset"
        guard typeA == typeB else { throw mismatch("model_type", typeA, typeB) }
        if let a = base.architectures, let b = instruct.architectures, a != b {
            throw mismatch("architectures", a.joined(separator: ","), b.joined(separator: ","))
        }
        let fieldsA = base.shapeFields(), fieldsB = instruct.shapeFields()
        for ((field, a), (_, b)) in zip(fieldsA, fieldsB) where a != b { throw mismatch(field, a, b) }

        let namesA = Set(base.source.tensorNames), namesB = Set(instruct.source.tensorNames)
        let tiedFlag = fieldsA.first { $0.0 == "tie_word_embeddings" }?.1 == "true"
        let tied = tiedFlag || (!namesA.contains("lm_head.weight") && !namesB.contains("lm_head.weight"))
        tiedEmbeddings = tied
        if let missing = base.storageOrder.first(where: { !namesB.contains($0) && !(tied && $0 == "lm_head.weight") }) {
            throw ModelPairError.missingTensor(tensor: missing, presentIn: base.path, presentRole: "base",
                                               absentFrom: instruct.path, absentRole: "instruct")
        }
        if let extra = instruct.source.tensorNames.first(where: { !namesA.contains($0) && !(tied && $0 == "lm_head.weight") }) {
            throw ModelPairError.missingTensor(tensor: extra, presentIn: instruct.path, presentRole: "instruct",
                                               absentFrom: base.path, absentRole: "base")
        }

        var tensors: [PairedTensor] = []
        for name in base.storageOrder where !(tied && name == "lm_head.weight") {
            guard let a = base.source.info(name), let b = instruct.source.info(name) else { continue }
            for (model, info) in [(base, a), (instruct, b)] where ![DType.f32, .f16, .bf16].contains(info.dtype) {
                throw ModelPairError.notFloat(tensor: name, dtype: info.dtype.rawValue, role: model.role, path: model.path)
            }
            let group = TensorGroup.classify(name: name, shape: a.shape)
            if a.shape != b.shape {
                let vocabulary = group == .embeddings || group == .head
                guard vocabulary, a.shape.count == 2, b.shape.count == 2, a.shape[1] == b.shape[1] else {
                    throw ModelPairError.shapeMismatch(tensor: name, base: base.path, baseShape: a.shape,
                                                       instruct: instruct.path, instructShape: b.shape)
                }
                guard b.shape[0] > a.shape[0] else {
                    throw ModelPairError.fewerRows(tensor: name, base: base.path, baseRows: a.shape[0],
                                                   instruct: instruct.path, instructRows: b.shape[0])
                }
            }
            tensors.append(PairedTensor(name: name, group: group, baseShape: a.shape, deltaShape: b.shape, baseDType: a.dtype))
        }
        self.tensors = tensors
        let embedding = tensors.first { $0.group == .embeddings }
        baseVocabSize = embedding?.baseShape[0] ?? base.config.vocabSize ?? 0
        instructVocabSize = embedding?.deltaShape[0] ?? instruct.config.vocabSize ?? 0
    }

    /// Tensors whose extra rows are carried whole.
    public var carriedRowTensors: [String] { tensors.filter(\.carriesRows).map(\.name) }

    /// The most common stored float dtype of the base's tensors, counted by elements.
    public var baseDType: DType {
        var elements: [DType: Int] = [:]
        for tensor in tensors { elements[tensor.baseDType, default: 0] += tensor.baseShape.reduce(1, *) }
        return elements.max { $0.value < $1.value || ($0.value == $1.value && $0.key.rawValue > $1.key.rawValue) }?.key ?? .f32
    }
}

/// Why two models cannot be paired; every message names both paths or the one at fault.
public enum ModelPairError: Error, CustomStringConvertible, Equatable {
    case notFound(role: String, path: String)
    case notAModel(role: String, path: String)
    case cannotOpen(role: String, path: String, reason: String)
    case configMismatch(base: String, instruct: String, field: String, baseValue: String, instructValue: String)
    case missingTensor(tensor: String, presentIn: String, presentRole: String, absentFrom: String, absentRole: String)
    case shapeMismatch(tensor: String, base: String, baseShape: [Int], instruct: String, instructShape: [Int])
    case fewerRows(tensor: String, base: String, baseRows: Int, instruct: String, instructRows: Int)
    case notFloat(tensor: String, dtype: String, role: String, path: String)

    public var description: String {
        switch self {
        case let .notFound(role, path):
            return "The \(role) model \(path) does not exist."
        case let .notAModel(role, path):
            return "The \(role) model \(path) is neither a model directory with config.json nor a .gguf file."
        case let .cannotOpen(role, path, reason):
            let clause = reason.hasSuffix(".") ? String(reason.dropLast()) : reason
            return "Cannot open the \(role) model \(path) (\(clause))."
        case let .configMismatch(base, instruct, field, a, b):
            return "Base model \(base) and instruct model \(instruct) differ in \(field) (\(a) vs \(b)), so they are not a base/instruct pair."
        case let .missingTensor(tensor, present, presentRole, absent, absentRole):
            return "The \(absentRole) model \(absent) has no tensor '\(tensor)', which the \(presentRole) model \(present) has."
        case let .shapeMismatch(tensor, base, a, instruct, b):
            return "Tensor '\(tensor)' has shape \(a) in base model \(base) but \(b) in instruct model \(instruct)."
        case let .fewerRows(tensor, base, a, instruct, b):
            return "Instruct model \(instruct) has fewer rows in '\(tensor)' (\(b)) than base model \(base) (\(a)); the instruct vocabulary must extend the base's."
        case let .notFloat(tensor, dtype, role, path):
            return "Tensor '\(tensor)' of the \(role) model \(path) is \(dtype), not a floating-point weight, so it has no delta."
        }
    }
}
