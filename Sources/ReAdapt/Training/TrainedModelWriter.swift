import Foundation

/// Writes what a training run produces, each through `StagingDirectory` (nothing appears under the
/// final name until it is complete):
/// - LoRA/DoRA: a PEFT adapter directory (adapter_config.json + adapter_model.safetensors) that
///   `PeftModel.from_pretrained` loads;
/// - full fine-tuning: a Hugging Face checkpoint (config.json, model safetensors, tokenizer and
///   generation files copied from the base model's directory) that `from_pretrained` loads.
public enum TrainedModelWriter {
    /// STUB (the trainer-io helper implements it).
    /// `baseModel` is recorded as `base_model_name_or_path`.
    public static func writePEFTAdapter(model: TrainableModel, baseModel: String, to directory: URL) throws {
        throw CocoaError(.featureUnsupported)
    }

    /// STUB (the trainer-io helper implements it). Files other than weights (config.json,
    /// tokenizer.json, tokenizer_config.json, generation_config.json, chat template, …) are copied
    /// from `baseDirectory` when it is a directory; for a GGUF base, config.json is written from the spec.
    public static func writeCheckpoint(model: TrainableModel, baseDirectory: URL, to directory: URL) throws {
        throw CocoaError(.featureUnsupported)
    }
}
