import Foundation

/// A directory written by `readapt extract`, recognised by its `readapt_delta.json`:
/// - kind `dense`: instruct − base for every included tensor, in the Hugging Face safetensors
///   layout (single file or shards + index); the delta is the stored tensor;
/// - kind `lore`: a PEFT LoRA adapter for the low-ranked linear weights plus the dense companion
///   `readapt_dense_delta.safetensors` (norms, biases, embeddings/head); both parts take the
///   adapter's one scale.
///
/// Vocabulary growth: tensors in `carried_row_tensors` have `instruct_vocab_size` rows; rows below
/// `base_vocab_size` are deltas, the rest are the instruct model's rows whole. `AdapterStack`
/// scales the shared rows and carries the extra rows unscaled into a taller merged tensor.
public final class DeltaCheckpointAdapter: WeightAdapter {
    public let directory: URL
    public let metadata: DeltaMetadata
    public var displayName: String { directory.path }
    /// Dense deltas: the checkpoint (kind dense) or the companion file (kind lore; nil if absent).
    let dense: SafetensorsCheckpoint?
    /// The low-rank part of a LoRE adapter.
    let lowRank: PEFTAdapter?
    public let targetTensorNames: [String]
    var metadataFile: String { directory.appendingPathComponent(DeltaMetadata.fileName).path }

    public init(directory: URL) throws {
        self.directory = directory
        metadata = try Self.readMetadata(directory.appendingPathComponent(DeltaMetadata.fileName))
        switch metadata.kind {
        case .dense:
            dense = try SafetensorsCheckpoint(directory: directory)
            lowRank = nil
        case .lore:
            let companion = directory.appendingPathComponent(LoREExtraction.companionFileName)
            dense = FileManager.default.fileExists(atPath: companion.path) ? try SafetensorsCheckpoint(url: companion) : nil
            let configURL = directory.appendingPathComponent(LoREExtraction.adapterConfigFileName)
            let weightsURL = directory.appendingPathComponent(LoREExtraction.adapterWeightsFileName)
            guard FileManager.default.fileExists(atPath: configURL.path), FileManager.default.fileExists(atPath: weightsURL.path) else {
                throw AdapterError.invalidMetadata(file: directory.appendingPathComponent(DeltaMetadata.fileName).path,
                                                   reason: "kind is lore but adapter_config.json or adapter_model.safetensors is missing")
            }
            lowRank = try PEFTAdapter(config: PEFTAdapterConfig.load(configURL, displayPath: directory.path),
                                      weights: SafetensorsCheckpoint(url: weightsURL), weightsFile: weightsURL.path,
                                      displayName: directory.path)
        }
        targetTensorNames = Set(dense?.tensorNames ?? []).union(lowRank?.targetTensorNames ?? []).sorted()
        for name in metadata.tensors where !targetTensorNames.contains(name) {
            throw AdapterError.missingDeltaTensor(file: metadataFile, tensor: name)
        }
    }

    /// Parses readapt_delta.json, refusing other formats and newer versions.
    public static func readMetadata(_ url: URL) throws -> DeltaMetadata {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw AdapterError.invalidMetadata(file: url.path, reason: "it cannot be read")
        }
        let metadata: DeltaMetadata
        do { metadata = try JSONDecoder().decode(DeltaMetadata.self, from: data) } catch let error as DecodingError {
            throw AdapterError.invalidMetadata(file: url.path, reason: Self.describe(error))
        } catch {
            throw AdapterError.invalidMetadata(file: url.path, reason: "it is not valid JSON")
        }
        guard metadata.format == "readapt-delta" else {
            throw AdapterError.invalidMetadata(file: url.path, reason: "format is \"\(metadata.format)\", not \"readapt-delta\"")
        }
        guard metadata.version <= DeltaMetadata.currentVersion else {
            throw AdapterError.invalidMetadata(file: url.path, reason: "version \(metadata.version) is newer than this readapt reads (\(DeltaMetadata.currentVersion))")
        }
        return metadata
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): return "the field \"\(key.stringValue)\" is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "it is not valid JSON" : "the field \"\(path)\" has the wrong type or value"
        @unknown default: return "it cannot be decoded"
        }
    }

    /// Tensor → total rows (base + carried) for tensors whose extra vocabulary rows are carried.
    public var carriedRows: [String: Int] {
        Dictionary(uniqueKeysWithValues: metadata.carriedRowTensors.map { ($0, metadata.instructVocabSize) })
    }

    public func validate(against base: TensorSource, baseConfigFile: URL?) throws {
        if let baseConfigFile, let bytes = FileManager.default.contents(atPath: baseConfigFile.path) {
            let found = SHA256.hex(bytes)
            guard found == metadata.base.configSHA256.lowercased() else {
                throw AdapterError.baseMismatch(path: directory.path, recorded: metadata.base.configSHA256, found: found)
            }
        }
        try lowRank?.validate(against: base, baseConfigFile: baseConfigFile)
        guard let dense else { return }
        let carried = Set(metadata.carriedRowTensors)
        for name in dense.tensorNames {
            let file = dense.file(containing: name)?.url.path ?? dense.displayName
            guard let baseInfo = base.info(name) else {
                throw AdapterError.missingTarget(file: file, module: name, tensor: name)
            }
            let shape = dense.info(name)?.shape ?? []
            if carried.contains(name) {
                let fits = shape.count == baseInfo.shape.count && shape.count >= 1 && baseInfo.shape[0] == metadata.baseVocabSize
                    && shape[0] == metadata.instructVocabSize && Array(shape.dropFirst()) == Array(baseInfo.shape.dropFirst())
                guard fits else { throw AdapterError.shapeMismatch(file: file, tensor: name, adapterShape: shape, baseShape: baseInfo.shape) }
            } else {
                guard shape == baseInfo.shape else {
                    throw AdapterError.shapeMismatch(file: file, tensor: name, adapterShape: shape, baseShape: baseInfo.shape)
                }
            }
        }
    }

    public func delta(for name: String, base: Tensor) throws -> Tensor? {
        var result = try dense.flatMap { checkpoint in
            checkpoint.info(name) == nil ? nil : try checkpoint.load(name)
        }
        if let lowRank, let part = try lowRank.delta(for: name, base: base) {
            if var sum = result {
                guard sum.scalars.count >= part.scalars.count else {
                    throw AdapterError.shapeMismatch(file: displayName, tensor: name, adapterShape: sum.shape, baseShape: base.shape)
                }
                // Only shared rows can have a low-rank part; carried rows stay as stored.
                for i in part.scalars.indices { sum.scalars[i] += part.scalars[i] }
                result = sum
            } else {
                result = part
            }
        }
        return result
    }
}
