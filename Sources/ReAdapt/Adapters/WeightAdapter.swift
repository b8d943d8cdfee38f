import Foundation

/// Anything that changes a base model's weights by an additive dense delta per tensor:
/// a delta checkpoint from `extract`, a LoRE adapter, a PEFT LoRA or DoRA adapter.
///
/// The merged weight of tensor NAME is `base + Σ scale_i · adapter_i.delta(NAME, base)`, with
/// every delta computed against the original base (so DoRA's column norms use W0, and the
/// order of adapters does not matter). `AdapterStack` is the one place that sum is formed; the
/// streaming `merge` command and in-memory `--adapter` both call it.
public protocol WeightAdapter: AnyObject {
    /// The adapter's path, for messages.
    var displayName: String { get }
    /// Base tensor names (Hugging Face names, e.g. `model.layers.0.self_attn.q_proj.weight`)
    /// this adapter changes, sorted.
    var targetTensorNames: [String] { get }
    /// Checks the adapter against the base before anything is computed or written: every target
    /// exists with a compatible shape, the architecture matches, a delta's recorded base config
    /// hash matches. Throws one clear error naming the adapter file and the problem.
    func validate(against base: TensorSource, baseConfigFile: URL?) throws
    /// The dense delta for `name`, computed against `base` (the unmodified base tensor), or nil
    /// when this adapter does not touch `name`. Its shape equals `base.shape`, except that a
    /// delta checkpoint with a larger vocabulary may have extra rows (see DeltaMetadata).
    func delta(for name: String, base: Tensor) throws -> Tensor?
}
