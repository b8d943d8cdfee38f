import Foundation

/// A PEFT LoRA or DoRA adapter directory (`adapter_config.json` + `adapter_model.safetensors`),
/// read as dense per-tensor deltas exactly as PEFT's `merge_and_unload()` would apply them.
///
/// What PEFT 0.21 saves, under `base_model.model.<module>.` (the adapter name is stripped):
/// - `lora_A.weight` (r × in), `lora_B.weight` (out × r): delta = s·B·A, or s·(B·A)ᵀ with
///   `fan_in_fan_out` (the base weight is stored [in, out]);
/// - `lora_embedding_A` (r × vocab), `lora_embedding_B` (dim × r): delta = s·(B·A)ᵀ;
/// - `lora_magnitude_vector` (DoRA): W' = m / ‖W0 + ΔW‖ · (W0 + ΔW), the norm taken per output
///   row over the inputs (per output column for fan_in_fan_out; per embedding dimension over the
///   vocabulary for embeddings), so the delta is W' − W0 against the base passed in;
/// - `lora_B.bias` (`lora_bias`): bias delta = s·b;
/// - whole tensors: `modules_to_save` modules (`lm_head.weight`), trained biases (`bias` "all" /
///   "lora_only", saved as `<module>.base_layer.bias` for adapted modules) and, when embeddings are
///   adapted, the embedding itself (`embed_tokens.base_layer.weight`). PEFT loads these over the
///   base, so their delta is saved − base (zero when unchanged), and LoRA/DoRA then apply on top.
/// s = lora_alpha / r (or / √r with rsLoRA), r and alpha per module from the patterns.
public final class PEFTAdapter: WeightAdapter {
    public let displayName: String
    public let config: PEFTAdapterConfig
    public let weights: SafetensorsCheckpoint
    /// The weights file's path, for messages.
    let weightsFile: String

    /// One adapted module's factors.
    struct Module {
        enum Layout { case linear, transposedLinear, embedding }
        var name: String
        var layout: Layout
        var a: TensorInfo
        var b: TensorInfo
        var magnitude: TensorInfo?
        var bias: TensorInfo?
        var scale: Double
        var rank: Int { a.shape[0] }
        /// Rows × columns of the base weight.
        var baseShape: [Int] {
            layout == .linear ? [b.shape[0], a.shape[1]] : [a.shape[1], b.shape[0]]
        }
    }

    /// Keyed by base weight name (`<module>.weight`).
    let modules: [String: Module]
    /// Base tensor name → adapter tensor holding its full replacement.
    let replacements: [String: String]
    /// Base bias name (`<module>.bias`) → the module whose lora_B.bias changes it.
    let loraBiases: [String: String]
    public let targetTensorNames: [String]

    static let prefix = "base_model.model."

    /// Opens a PEFT adapter directory (the caller has checked adapter_config.json exists).
    public convenience init(directory: URL) throws {
        let configURL = directory.appendingPathComponent("adapter_config.json")
        let config = try PEFTAdapterConfig.load(configURL, displayPath: directory.path)
        let weightsURL = directory.appendingPathComponent("adapter_model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            let pickle = directory.appendingPathComponent("adapter_model.bin")
            if FileManager.default.fileExists(atPath: pickle.path) { throw AdapterError.pickleWeights(file: pickle.path) }
            throw AdapterError.missingWeights(directory: directory.path)
        }
        try self.init(config: config, weights: SafetensorsCheckpoint(url: weightsURL), weightsFile: weightsURL.path,
                      displayName: directory.path)
    }

    /// An adapter from an already parsed config and opened weights (a LoRE adapter's PEFT part).
    init(config: PEFTAdapterConfig, weights: SafetensorsCheckpoint, weightsFile: String, displayName: String) throws {
        self.config = config
        self.weights = weights
        self.weightsFile = weightsFile
        self.displayName = displayName

        var parts: [String: [String: TensorInfo]] = [:]   // module → part → info
        var replacements: [String: String] = [:]
        for key in weights.tensorNames {
            guard let info = weights.info(key) else { continue }
            guard key.hasPrefix(Self.prefix) else { throw AdapterError.unrecognisedTensor(file: weightsFile, tensor: key) }
            let name = String(key.dropFirst(Self.prefix.count))
            if let (module, part) = Self.loraPart(of: name) {
                parts[module, default: [:]][part] = info
            } else if name.contains("lora_") {
                throw AdapterError.unrecognisedTensor(file: weightsFile, tensor: key)
            } else if name.hasSuffix(".weight") || name.hasSuffix(".bias") {
                // `<module>.base_layer.bias` is the wrapped module's own tensor.
                let target = name.replacingOccurrences(of: ".base_layer.", with: ".")
                    .replacingOccurrences(of: ".modules_to_save.", with: ".")
                replacements[target] = key
            } else {
                throw AdapterError.unrecognisedTensor(file: weightsFile, tensor: key)
            }
        }

        var modules: [String: Module] = [:]
        var loraBiases: [String: String] = [:]
        for (module, p) in parts.sorted(by: { $0.key < $1.key }) {
            let embedding = p["embedding_A"] != nil || p["embedding_B"] != nil
            let aKey = embedding ? "lora_embedding_A" : "lora_A.weight"
            let bKey = embedding ? "lora_embedding_B" : "lora_B.weight"
            guard let a = p[embedding ? "embedding_A" : "A"] else {
                throw AdapterError.incompleteModule(file: weightsFile, module: module, missing: aKey)
            }
            guard let b = p[embedding ? "embedding_B" : "B"] else {
                throw AdapterError.incompleteModule(file: weightsFile, module: module, missing: bKey)
            }
            guard a.shape.count == 2 else {
                throw AdapterError.badFactorShape(file: weightsFile, tensor: a.name, shape: a.shape, expected: "\(aKey) must be 2-D (rank × inputs)")
            }
            guard b.shape.count == 2, b.shape[1] == a.shape[0] else {
                throw AdapterError.badFactorShape(file: weightsFile, tensor: b.name, shape: b.shape,
                                                  expected: "\(bKey) must be 2-D with \(a.shape[0]) columns (the rank of \(aKey))")
            }
            let rank = try config.rank(for: module)
            guard rank == a.shape[0] else {
                throw AdapterError.rankMismatch(file: weightsFile, module: module, configRank: rank, tensorRank: a.shape[0])
            }
            if p["magnitude"] != nil, !config.useDoRA {
                throw AdapterError.invalidConfig(file: config.fileName, reason: "\"use_dora\" is false but \(module) has a lora_magnitude_vector")
            }
            if config.useDoRA, p["magnitude"] == nil {
                throw AdapterError.incompleteModule(file: weightsFile, module: module, missing: "lora_magnitude_vector (use_dora is true)")
            }
            let layout: Module.Layout = embedding ? .embedding : (config.fanInFanOut ? .transposedLinear : .linear)
            var entry = Module(name: module, layout: layout, a: a, b: b, magnitude: p["magnitude"], bias: p["bias"],
                               scale: try config.scale(for: module))
            if let m = entry.magnitude {
                // Linear: one per output feature; embedding: one per embedding dimension. Both are B's rows.
                let outputs = b.shape[0]
                guard m.shape == [outputs] else {
                    throw AdapterError.badFactorShape(file: weightsFile, tensor: m.name, shape: m.shape,
                                                      expected: "the DoRA magnitude of \(module) must have \(outputs) elements")
                }
            }
            if let bias = entry.bias {
                guard bias.shape == [b.shape[0]] else {
                    throw AdapterError.badFactorShape(file: weightsFile, tensor: bias.name, shape: bias.shape,
                                                      expected: "lora_B.bias of \(module) must have \(b.shape[0]) elements")
                }
                loraBiases[module + ".bias"] = module + ".weight"
            }
            entry.name = module
            modules[module + ".weight"] = entry
        }
        self.modules = modules
        self.replacements = replacements
        self.loraBiases = loraBiases
        targetTensorNames = Set(modules.keys).union(replacements.keys).union(loraBiases.keys).sorted()
    }

    /// (module, part) for a LoRA tensor name relative to the model, else nil.
    static func loraPart(of name: String) -> (String, String)? {
        let suffixes = [(".lora_A.weight", "A"), (".lora_B.weight", "B"), (".lora_B.bias", "bias"),
                        (".lora_embedding_A", "embedding_A"), (".lora_embedding_B", "embedding_B"),
                        (".lora_magnitude_vector", "magnitude"), (".lora_magnitude_vector.weight", "magnitude")]
        for (suffix, part) in suffixes where name.hasSuffix(suffix) {
            return (String(name.dropLast(suffix.count)), part)
        }
        return nil
    }

    public func validate(against base: TensorSource, baseConfigFile: URL?) throws {
        for (target, module) in modules.sorted(by: { $0.key < $1.key }) {
            guard let info = base.info(target) else {
                throw AdapterError.missingTarget(file: weightsFile, module: module.name, tensor: target)
            }
            guard info.shape == module.baseShape else {
                throw AdapterError.shapeMismatch(file: weightsFile, tensor: target, adapterShape: module.baseShape, baseShape: info.shape)
            }
        }
        for (target, key) in replacements.sorted(by: { $0.key < $1.key }) {
            guard let info = base.info(target) else {
                throw AdapterError.missingTarget(file: weightsFile, module: key, tensor: target)
            }
            let shape = weights.info(key)?.shape ?? []
            guard info.shape == shape else {
                throw AdapterError.shapeMismatch(file: weightsFile, tensor: target, adapterShape: shape, baseShape: info.shape)
            }
        }
        for (target, weight) in loraBiases.sorted(by: { $0.key < $1.key }) {
            guard let module = modules[weight], let info = base.info(target) else {
                throw AdapterError.missingTarget(file: weightsFile, module: weight.replacingOccurrences(of: ".weight", with: ""), tensor: target)
            }
            let shape = module.bias?.shape ?? []
            guard info.shape == shape else {
                throw AdapterError.shapeMismatch(file: weightsFile, tensor: target, adapterShape: shape, baseShape: info.shape)
            }
        }
    }

    public func delta(for name: String, base: Tensor) throws -> Tensor? {
        let replacement = try replacements[name].map { try weights.load($0) }
        let module = modules[name]
        let biasModule = loraBiases[name].flatMap { modules[$0] }
        guard replacement != nil || module != nil || biasModule != nil else { return nil }

        // PEFT loads saved whole tensors over the base first; LoRA/DoRA then act on that weight.
        var delta: Tensor?
        if var replacement {
            guard replacement.shape == base.shape else {
                throw AdapterError.shapeMismatch(file: weightsFile, tensor: name, adapterShape: replacement.shape, baseShape: base.shape)
            }
            if let module, module.magnitude != nil {
                delta = replacement   // DoRA below needs the replaced weight itself
            } else {
                for i in replacement.scalars.indices { replacement.scalars[i] -= base.scalars[i] }
                delta = replacement
            }
        }
        if let module {
            guard base.shape == module.baseShape else {
                throw AdapterError.shapeMismatch(file: weightsFile, tensor: name, adapterShape: module.baseShape, baseShape: base.shape)
            }
            var update = try lowRankProduct(module)
            if let magnitudeInfo = module.magnitude {
                let magnitude = try weights.load(magnitudeInfo.name)
                let original = delta ?? base
                Self.doraUpdate(original: original, update: &update, magnitude: magnitude.scalars,
                                normAlongRows: module.layout == .linear)
                if delta != nil {   // W' − base = (W' − replacement) + (replacement − base)
                    for i in update.scalars.indices { update.scalars[i] += original.scalars[i] - base.scalars[i] }
                }
                delta = update
            } else if delta != nil {
                for i in update.scalars.indices { delta!.scalars[i] += update.scalars[i] }
            } else {
                delta = update
            }
        }
        if let biasModule, let biasInfo = biasModule.bias {
            let bias = try weights.load(biasInfo.name)
            guard bias.scalars.count == base.scalars.count else {
                throw AdapterError.shapeMismatch(file: weightsFile, tensor: name, adapterShape: bias.shape, baseShape: base.shape)
            }
            let s = Float(biasModule.scale)
            if delta == nil { delta = Tensor(zeros: base.shape) }
            for i in bias.scalars.indices { delta!.scalars[i] += s * bias.scalars[i] }
        }
        return delta
    }

    /// s·B·A shaped like the base weight ([out, in], or [in, out] / [vocab, dim] transposed).
    func lowRankProduct(_ module: Module) throws -> Tensor {
        let a = try weights.load(module.a.name), b = try weights.load(module.b.name)
        let rank = module.rank, inputs = a.shape[1], outputs = b.shape[0]
        var product = Tensor(zeros: module.baseShape)
        guard rank > 0 else { return product }
        let s = Float(module.scale)
        a.scalars.withUnsafeBufferPointer { ap in
            b.scalars.withUnsafeBufferPointer { bp in
                product.scalars.withUnsafeMutableBufferPointer { cp in
                    if module.layout == .linear {
                        GEMM.sgemm(m: outputs, n: inputs, k: rank, alpha: s, a: bp.baseAddress!, lda: rank,
                                   b: ap.baseAddress!, ldb: inputs, c: cp.baseAddress!, ldc: inputs)
                    } else {   // (B·A)ᵀ = Aᵀ·Bᵀ
                        GEMM.sgemm(transA: true, transB: true, m: inputs, n: outputs, k: rank, alpha: s,
                                   a: ap.baseAddress!, lda: inputs, b: bp.baseAddress!, ldb: rank,
                                   c: cp.baseAddress!, ldc: outputs)
                    }
                }
            }
        }
        return product
    }

    /// DoRA's W' − W0 for W' = m / ‖W0 + ΔW‖ · (W0 + ΔW): norms per row when `normAlongRows`
    /// (an [out, in] linear weight), else per column. Norms accumulate in Double.
    static func doraUpdate(original: Tensor, update: inout Tensor, magnitude: [Float], normAlongRows: Bool) {
        let rows = original.shape[0], columns = original.shape[1]
        original.scalars.withUnsafeBufferPointer { w in
            update.scalars.withUnsafeMutableBufferPointer { u in
                if normAlongRows {
                    // Rows are independent: split them across the cores.
                    let chunk = max(1, (1 << 16) / max(columns, 1))
                    DispatchQueue.concurrentPerform(iterations: (rows + chunk - 1) / chunk) { part in
                        for r in (part * chunk)..<min(rows, (part + 1) * chunk) {
                            let row = r * columns
                            var sum = 0.0
                            for c in 0..<columns {
                                let v = Double(w[row + c]) + Double(u[row + c])
                                sum += v * v
                            }
                            let factor = Float(Double(magnitude[r]) / sum.squareRoot())
                            for c in 0..<columns { u[row + c] = factor * (w[row + c] + u[row + c]) - w[row + c] }
                        }
                    }
                } else {
                    var sums = [Double](repeating: 0, count: columns)
                    for r in 0..<rows {
                        for c in 0..<columns {
                            let v = Double(w[r * columns + c]) + Double(u[r * columns + c])
                            sums[c] += v * v
                        }
                    }
                    let factors = (0..<columns).map { Float(Double(magnitude[$0]) / sums[$0].squareRoot()) }
                    for r in 0..<rows {
                        for c in 0..<columns {
                            let i = r * columns + c
                            u[i] = factors[c] * (w[i] + u[i]) - w[i]
                        }
                    }
                }
            }
        }
    }
}
