import Foundation

/// Problems found while forming merged weights.
public enum MergeError: Error, CustomStringConvertible, Equatable, Sendable {
    case nonFinite(tensor: String, adapters: [String])
    case conflictingRows(tensor: String, first: String, second: String)
    case inconsistentVocabulary(sizes: [String: Int])
    case unsupportedBase(path: String, reason: String)

    public var description: String {
        switch self {
        case .nonFinite(let tensor, let adapters):
            return "Merging \(adapters.joined(separator: " and ")) produces NaN or infinite values in \(tensor); check the adapter and its scale."
        case .conflictingRows(let tensor, let first, let second):
            return "\(first) and \(second) both add vocabulary rows to \(tensor); merge at most one adapter that grows the vocabulary."
        case .inconsistentVocabulary(let sizes):
            let list = sizes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return "The adapters grow the vocabulary inconsistently (rows: \(list)); the embeddings and an untied head must grow together."
        case .unsupportedBase(let path, let reason):
            return "\(path) cannot be used as the base: \(reason)."
        }
    }
}

/// Several adapters, each with a scale, and a global `LayerScale`: the single place that answers
/// "what is tensor NAME after these adapters". For tensor W with base value W0:
///
///     W = W0 + Σ_i scale_i · layerScale(W) · delta_i(W, W0)
///
/// every delta computed against the original base (so the order of adapters never matters and
/// DoRA's norms use W0). Rows a delta checkpoint carries beyond the base vocabulary are appended
/// unscaled. The streaming `merge` and in-memory `--adapter` both call `merged(_:base:)`.
public final class AdapterStack {
    public struct Entry {
        public let adapter: WeightAdapter
        public let scale: Double
        public init(adapter: WeightAdapter, scale: Double) {
            self.adapter = adapter
            self.scale = scale
        }
    }

    public let entries: [Entry]
    public let layerScale: LayerScale
    /// Decoder layers of the base, known after `validate` (for ramp/list layer scales).
    public private(set) var layerCount = 0
    /// Tensor → total rows, for tensors that grow past the base vocabulary.
    public private(set) var grownRows: [String: Int] = [:]
    /// Every base tensor some adapter changes.
    public let targetTensorNames: Set<String>

    public init(entries: [Entry], layerScale: LayerScale = .identity) {
        self.entries = entries
        self.layerScale = layerScale
        targetTensorNames = Set(entries.flatMap { $0.adapter.targetTensorNames })
    }

    /// Opens every `--adapter` argument.
    public convenience init(specs: [AdapterSpec], layerScale: LayerScale = .identity) throws {
        let entries = try specs.map { Entry(adapter: try AdapterLoader.load(URL(fileURLWithPath: $0.path)), scale: $0.scale) }
        self.init(entries: entries, layerScale: layerScale)
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// Checks every adapter against the base and the layer scale against its depth; nothing is
    /// computed or written before this passes.
    public func validate(against base: TensorSource, baseConfigFile: URL?) throws {
        for entry in entries { try entry.adapter.validate(against: base, baseConfigFile: baseConfigFile) }
        layerCount = LayerScale.layerCount(of: base.tensorNames)
        try layerScale.validate(layerCount: layerCount)
        var grown: [String: (rows: Int, adapter: String)] = [:]
        for entry in entries {
            guard let delta = entry.adapter as? DeltaCheckpointAdapter else { continue }
            for (name, rows) in delta.carriedRows where base.info(name) != nil {
                if let other = grown[name] {
                    throw MergeError.conflictingRows(tensor: name, first: other.adapter, second: delta.displayName)
                }
                grown[name] = (rows, delta.displayName)
            }
        }
        grownRows = grown.mapValues(\.rows)
        if Set(grownRows.values).count > 1 { throw MergeError.inconsistentVocabulary(sizes: grownRows) }
        // An untied head must grow with the embeddings, or the model would not load.
        let pair = ["model.embed_tokens.weight", "lm_head.weight"].filter { base.info($0) != nil }
        if !grownRows.isEmpty, pair.count == 2, pair.contains(where: { grownRows[$0] == nil }) {
            var sizes = grownRows
            for name in pair where sizes[name] == nil { sizes[name] = base.info(name)?.shape.first ?? 0 }
            throw MergeError.inconsistentVocabulary(sizes: sizes)
        }
    }

    /// The vocabulary size after merging, if an adapter grows it.
    public var mergedVocabSize: Int? { grownRows.values.first }

    /// The merged tensor's shape (taller than the base when rows are carried).
    public func mergedShape(of name: String, baseShape: [Int]) -> [Int] {
        guard let rows = grownRows[name], !baseShape.isEmpty else { return baseShape }
        return [rows] + baseShape.dropFirst()
    }

    /// The multiplier of adapter `entry` on tensor `name`: its scale times the layer scale.
    public func factor(_ entry: Entry, for name: String) -> Double {
        entry.scale * layerScale.factor(for: name, layerCount: layerCount)
    }

    /// Tensor `name` after every adapter, from its base value. Throws if the result is not finite.
    ///
    /// Memory: the scaled deltas accumulate in the first delta's buffer and the base is added
    /// last, so besides `base` at most two tensors are alive (the sum and the next delta).
    public func merged(_ name: String, base: Tensor) throws -> Tensor {
        guard targetTensorNames.contains(name) else { return base }
        let sharedCount = base.scalars.count
        var sum: Tensor?
        var contributors: [String] = []
        for entry in entries {
            guard var delta = try entry.adapter.delta(for: name, base: base) else { continue }
            contributors.append(entry.adapter.displayName)
            if delta.shape != base.shape {
                // Carried vocabulary rows (validated): only the shared rows are scaled and summed.
                guard delta.shape.count == base.shape.count, delta.scalars.count > sharedCount,
                      delta.shape.dropFirst() == base.shape.dropFirst() else {
                    throw AdapterError.shapeMismatch(file: entry.adapter.displayName, tensor: name,
                                                     adapterShape: delta.shape, baseShape: base.shape)
                }
            }
            let f = Float(factor(entry, for: name))
            delta.scalars.withUnsafeMutableBufferPointer { d in
                for i in 0..<sharedCount { d[i] *= f }
            }
            if sum == nil {
                sum = delta
            } else {
                if delta.scalars.count > sum!.scalars.count { swap(&sum!, &delta) }   // keep the taller one
                delta.scalars.withUnsafeBufferPointer { d in
                    sum!.scalars.withUnsafeMutableBufferPointer { s in
                        for i in 0..<sharedCount { s[i] += d[i] }
                    }
                }
            }
        }
        guard var result = sum else { return base }
        sum = nil   // `result` is now the buffer's only owner: no copy on write below
        var finite = true
        base.scalars.withUnsafeBufferPointer { b in
            result.scalars.withUnsafeMutableBufferPointer { r in
                for i in 0..<sharedCount { r[i] += b[i] }
                for v in r where !v.isFinite { finite = false; break }
            }
        }
        guard finite else { throw MergeError.nonFinite(tensor: name, adapters: contributors) }
        return result
    }

    /// `merged` as the `(name, tensor) -> tensor` hook of `ModelBundle.loadModel(transform:)`.
    public var transform: (String, Tensor) throws -> Tensor {
        { [self] name, tensor in try merged(name, base: tensor) }
    }
}

extension ModelBundle {
    /// The model with `adapters` merged in memory, tensor by tensor as the weights load (the same
    /// `AdapterStack.merged` that `readapt merge` writes, so both give the same weights). Validates
    /// the adapters first; a vocabulary grown by a delta enlarges the model's embedding and head
    /// (the tokenizer stays the base's, so new tokens are only reachable by id).
    public func loadModel(storage: WeightStorage? = nil, adapters: AdapterStack) throws -> LanguageModel {
        let configFile = kind == .directory ? url.appendingPathComponent("config.json") : nil
        try adapters.validate(against: source, baseConfigFile: configFile)
        var spec = self.spec
        if let vocab = adapters.mergedVocabSize { spec.vocabSize = vocab }
        return try LanguageModel(spec: spec, source: source, sourceName: url.path, storage: storage,
                                 transform: adapters.transform)
    }
}
