import Foundation

/// `adapter_config.json` of a LoRE adapter, for PEFT (checked against PEFT 0.21.2, see
/// scripts/fixtures/check_lore_with_peft.py) and llama.cpp's convert_lora_to_gguf.py.
///
/// One global `lora_alpha` equal to `r` (the largest rank) and no `alpha_pattern`: llama.cpp
/// reads only the global alpha and takes each module's rank from its tensor shapes, scaling by
/// alpha / rank, exactly like PEFT does after `rank_pattern`. The per-module factor rank / alpha
/// is folded into the stored lora_B, so both reproduce B·A.
struct LoREAdapterConfig {
    /// (module name, rank) in extraction order; rank-0 modules are left out.
    var modules: [(name: String, rank: Int)]
    var baseModelPath: String

    var adapterRank: Int { max(modules.map(\.rank).max() ?? 0, 1) }

    /// Keys are PEFT module names, matched by PEFT as the regex `(.*\.)?(key)$`; with full names
    /// from the root, `model.layers.1.…` cannot match `model.layers.11.…`.
    var rankPattern: [String: Int] {
        var pattern: [String: Int] = [:]
        for module in modules where module.rank > 0 && module.rank != adapterRank { pattern[module.name] = module.rank }
        return pattern
    }

    var targetModules: [String] {
        Array(Set(modules.filter { $0.rank > 0 }.map { String($0.name.split(separator: ".").last ?? "") })).sorted()
    }

    /// Modules left out (zero delta) whose suffix is still targeted: PEFT would otherwise wrap
    /// them (with a zero B, so harmlessly) and warn that their weights are missing.
    var excludedModules: [String] {
        let targets = Set(targetModules)
        return modules.filter { $0.rank == 0 && targets.contains(String($0.name.split(separator: ".").last ?? "")) }
            .map(\.name).sorted()
    }

    /// PEFT's portable key set (see `PEFTLoRAConfigFields`): llama.cpp and PEFT since 0.7 read it.
    func json() throws -> Data {
        let fields = PEFTLoRAConfigFields(r: adapterRank, loraAlpha: Double(adapterRank), targetModules: targetModules,
                                          rankPattern: rankPattern, excludeModules: excludedModules,
                                          baseModelPath: baseModelPath)
        return try PEFTLoRAConfigFields.encode(fields.portableObject())
    }
}

/// Unscaled factors parked on disk between the factorization pass and the adapter file, whose
/// lora_B scale depends on the largest rank of all modules.
final class FactorScratchFile {
    let url: URL
    private let handle: FileHandle
    private var offsets: [UInt64] = []
    private var end: UInt64 = 0

    init(directory: URL) throws {
        url = directory.appendingPathComponent(".lore-factors.scratch")
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
              let handle = try? FileHandle(forUpdating: url) else {
            throw OutputDirectoryError.cannotWrite(path: url.path, reason: "cannot create a scratch file")
        }
        self.handle = handle
    }

    deinit { remove() }

    /// Appends A then B of one module (nothing for rank 0).
    func append(_ factors: LowRankFactorization) throws {
        offsets.append(end)
        for part in [factors.a, factors.b] where !part.isEmpty {
            let data = part.withUnsafeBytes { Data($0) }
            do { try handle.seekToEnd(); try handle.write(contentsOf: data) } catch {
                throw OutputDirectoryError.cannotWrite(path: url.path, reason: StagingDirectory.reason(error))
            }
            end += UInt64(data.count)
        }
    }

    /// `count` floats of module `index` starting `skip` floats into its record.
    func read(module index: Int, skip: Int, count: Int) throws -> [Float] {
        do {
            try handle.seek(toOffset: offsets[index] + UInt64(skip * 4))
            let data = try handle.read(upToCount: count * 4) ?? Data()
            guard data.count == count * 4 else {
                throw OutputDirectoryError.cannotWrite(path: url.path, reason: "the scratch file is shorter than written")
            }
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        } catch let error as OutputDirectoryError { throw error } catch {
            throw OutputDirectoryError.cannotWrite(path: url.path, reason: StagingDirectory.reason(error))
        }
    }

    func remove() {
        try? handle.close()
        try? FileManager.default.removeItem(at: url)
    }
}

extension LoREExtraction {
    /// `adapter_model.safetensors`: lora_A (k × in) as factored, lora_B (out × k) times k / alpha.
    static func writeAdapterWeights(modules: [String], matrices: [LoREMatrixReport], scratch: FactorScratchFile,
                                    adapterRank: Int, dtype: DType, to directory: URL) throws {
        var declared: [TensorInfo] = []
        for (module, matrix) in zip(modules, matrices) where matrix.rank > 0 {
            declared.append(TensorInfo(name: "base_model.model.\(module).lora_A.weight", dtype: dtype,
                                       shape: [matrix.rank, matrix.columns]))
            declared.append(TensorInfo(name: "base_model.model.\(module).lora_B.weight", dtype: dtype,
                                       shape: [matrix.rows, matrix.rank]))
        }
        let writer = try SafetensorsWriter(url: directory.appendingPathComponent(adapterWeightsFileName),
                                           tensors: declared, metadata: ["format": "pt"])
        for (index, (module, matrix)) in zip(modules, matrices).enumerated() where matrix.rank > 0 {
            let aCount = matrix.rank * matrix.columns
            let a = try scratch.read(module: index, skip: 0, count: aCount)
            try writer.write("base_model.model.\(module).lora_A.weight", Tensor(shape: [matrix.rank, matrix.columns], scalars: a))
            let fold = Float(Double(matrix.rank) / Double(adapterRank))
            let b = try scratch.read(module: index, skip: aCount, count: matrix.rows * matrix.rank).map { $0 * fold }
            try writer.write("base_model.model.\(module).lora_B.weight", Tensor(shape: [matrix.rows, matrix.rank], scalars: b))
        }
        try writer.finish()
    }

    /// `readapt_dense_delta.safetensors`: the dense deltas under base names (no file when empty).
    static func writeCompanion(_ dense: [TensorInfo], loadDelta: (String) throws -> Tensor, dtype: DType,
                               to directory: URL) throws {
        guard !dense.isEmpty else { return }
        let writer = try SafetensorsWriter(url: directory.appendingPathComponent(companionFileName),
                                           tensors: dense.map { TensorInfo(name: $0.name, dtype: dtype, shape: $0.shape) },
                                           metadata: ["format": "pt"])
        for info in dense {
            let delta = try loadDelta(info.name)
            guard delta.scalars.allSatisfy(\.isFinite) else { throw LowRankError.nonFinite(name: info.name) }
            try writer.write(info.name, delta)
        }
        try writer.finish()
    }
}
