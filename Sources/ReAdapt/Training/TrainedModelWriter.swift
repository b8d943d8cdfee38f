import Foundation

/// Why a trained model could not be written.
public enum TrainedModelWriterError: Error, CustomStringConvertible, Equatable {
    /// `writePEFTAdapter` on a model trained with full fine-tuning.
    case noAdapter(output: String)
    /// A trained tensor holds NaN or ±infinity (a diverged run): writing it would only pass the damage on.
    case nonFinite(tensor: String, output: String)
    /// `writeCheckpoint`'s base describes a different model than the one trained.
    case baseMismatch(base: String)

    public var description: String {
        switch self {
        case .noAdapter(let output):
            return "Cannot write a PEFT adapter to \(output): the model was trained with full fine-tuning, so it has no LoRA/DoRA adapter (write a checkpoint instead)."
        case .nonFinite(let tensor, let output):
            return "Cannot write \(output): the trained tensor '\(tensor)' holds NaN or infinite values (the run diverged)."
        case .baseMismatch(let base):
            return "The base model \(base) does not have the architecture of the trained model, so its config and tokenizer cannot describe the checkpoint."
        }
    }
}

/// Writes what a training run produces, each through `StagingDirectory` (nothing appears under the
/// final name until it is complete; an interrupted write leaves the previous output untouched):
/// - LoRA/DoRA: a PEFT adapter directory (adapter_config.json + adapter_model.safetensors) that
///   `PeftModel.from_pretrained` loads (checked by scripts/check_train_adapter_with_peft.py);
/// - full fine-tuning: a Hugging Face checkpoint (config.json, model safetensors, tokenizer and
///   generation files copied from the base model) that `from_pretrained` loads.
/// Everything is written in F32, the precision the model was trained in. See docs/training-outputs.md.
public enum TrainedModelWriter {
    /// The adapter's weights file, as PEFT names it.
    public static let adapterWeightsFileName = "adapter_model.safetensors"
    public static let adapterConfigFileName = "adapter_config.json"

    /// Writes `model`'s LoRA/DoRA adapter (every slot of `model.trainable`, already named as PEFT
    /// saves them) with the adapter_config.json PEFT 0.21 writes for the model's `LoRASettings`.
    /// `baseModel` is recorded as `base_model_name_or_path`. An existing non-empty `directory` is
    /// refused unless `replace`.
    public static func writePEFTAdapter(model: TrainableModel, baseModel: String, to directory: URL,
                                        replace: Bool = false) throws {
        guard let settings = model.method.loraSettings else { throw TrainedModelWriterError.noAdapter(output: directory.path) }
        let staging = try StagingDirectory(output: directory, replace: replace)
        try staging.write(adapterConfigJSON(settings, baseModel: baseModel), to: adapterConfigFileName)
        let writer = try SafetensorsWriter(url: staging.file(adapterWeightsFileName),
                                           tensors: model.trainable.slots.map { TensorInfo(name: $0.name, dtype: .f32, shape: $0.shape) },
                                           metadata: ["format": "pt"])
        for slot in model.trainable.slots {
            try write(slot, of: model.trainable.values, output: directory.path) { try writer.write(slot.name, scalars: $0) }
        }
        try writer.finish()
        try staging.commit()
    }

    /// adapter_config.json for `settings`: PEFT 0.21.2's keys and values for
    /// `LoraConfig(r, lora_alpha, lora_dropout, target_modules, use_rslora, use_dora,
    /// task_type="CAUSAL_LM")` after `save_pretrained`.
    public static func adapterConfigJSON(_ settings: LoRASettings, baseModel: String) throws -> Data {
        let fields = PEFTLoRAConfigFields(r: settings.rank, loraAlpha: settings.alpha, loraDropout: settings.dropout,
                                          targetModules: settings.targets.map(\.rawValue), useRSLoRA: settings.useRSLoRA,
                                          useDoRA: settings.useDoRA, baseModelPath: baseModel)
        return try PEFTLoRAConfigFields.encode(fields.peft021Object())
    }

    /// Writes every parameter of `model` (`model.parameters`, Hugging Face names, a tied head
    /// omitted as transformers omits it) as F32 safetensors, split into shards of at most
    /// `maxShardSize` bytes as `save_pretrained` does. `baseDirectory` is the model training started
    /// from: a Hugging Face directory (its config.json is copied with the dtype set to float32, and
    /// its tokenizer, chat template and generation files are copied) or a `.gguf` file (config.json,
    /// generation_config.json and the tokenizer files are rebuilt from its metadata, as
    /// `readapt convert` does). For a LoRA/DoRA model this writes the frozen base (the adapter is not
    /// merged; write it with `writePEFTAdapter`).
    public static func writeCheckpoint(model: TrainableModel, baseDirectory: URL, to directory: URL,
                                       replace: Bool = false,
                                       maxShardSize: Int = parseByteSize(defaultMaxShardSize)!) throws {
        let staging = try StagingDirectory(output: directory, replace: replace)
        try writeBaseFiles(of: baseDirectory, spec: model.spec, into: staging)
        let slots = model.layout.slots
        let writer = try SafetensorsShardedWriter(directory: staging.url,
                                                  tensors: slots.map { TensorInfo(name: $0.name, dtype: .f32, shape: $0.shape) },
                                                  maxShardSize: maxShardSize)
        do {
            for slot in slots {
                try write(slot, of: model.parameters, output: directory.path) { try writer.write(slot.name, scalars: $0) }
            }
            try writer.finish()
        } catch {
            writer.cancel()
            throw error
        }
        try staging.commit()
    }

    /// config.json and the tokenizer/generation files of the base, after checking it describes `spec`.
    private static func writeBaseFiles(of base: URL, spec: ModelSpec, into staging: StagingDirectory) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base.path, isDirectory: &isDirectory) else {
            throw ModelBundleError.notFound(path: base.path)
        }
        if isDirectory.boolValue {
            let configFile = base.appendingPathComponent("config.json")
            guard let data = FileManager.default.contents(atPath: configFile.path) else {
                throw ModelConfigError.unreadable(file: configFile)
            }
            guard try ModelSpec(ModelConfig.decode(data, file: configFile), file: configFile) == spec else {
                throw TrainedModelWriterError.baseMismatch(base: base.path)
            }
            try staging.write(ModelMerger.mergedConfig(data, file: configFile, vocabSize: nil, dtype: .f32), to: "config.json")
            for name in ModelMerger.tokenizerFiles {
                let file = base.appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: file.path) { try staging.copy(file, as: name) }
            }
        } else if base.pathExtension.lowercased() == "gguf" {
            let checkpoint = try GGUFCheckpoint(url: base)
            guard try ModelSpec(checkpoint.config, file: base) == spec else {
                throw TrainedModelWriterError.baseMismatch(base: base.path)
            }
            let tokenizerFiles = try GGUFTokenizerFiles.make(from: checkpoint.file)
            try staging.write(GGUFConverter.configJSON(checkpoint.config, dtype: .f32), to: "config.json")
            try staging.write(GGUFConverter.generationConfigJSON(checkpoint.config), to: "generation_config.json")
            try staging.write(tokenizerFiles.tokenizerJSON, to: "tokenizer.json")
            try staging.write(tokenizerFiles.tokenizerConfigJSON, to: "tokenizer_config.json")
        } else {
            throw ModelBundleError.notAModel(path: base.path)
        }
    }

    /// Hands one slot's values to `body` after checking they are all finite.
    private static func write(_ slot: ParameterSlot, of buffer: TrainingBuffer, output: String,
                              _ body: (UnsafeBufferPointer<Float>) throws -> Void) throws {
        let values = UnsafeBufferPointer(start: buffer.pointer + slot.offset, count: slot.count)
        guard values.allSatisfy(\.isFinite) else { throw TrainedModelWriterError.nonFinite(tensor: slot.name, output: output) }
        try body(values)
    }
}
