import Foundation

/// Where the memory of a training run goes, computed from the same sizes `TrainableModel` and
/// `AdamW` allocate (`TrainingActivations.floatCount`, `LoRAActivations.floatCount`, the layouts),
/// so a run that would not fit can be refused before anything is loaded (`TrainingMemoryReport`
/// formats it).
public struct TrainingMemoryEstimate: Sendable, Equatable {
    public struct Part: Sendable, Equatable {
        public var name: String
        public var bytes: Int
    }

    /// In allocation order: parameters, trainable copy (LoRA), gradients, AdamW moments,
    /// activations, adapter activations, and a fixed allowance for the runtime.
    public var parts: [Part]
    public var totalBytes: Int { parts.reduce(0) { $0 + $1.bytes } }

    /// The runtime, tokenizer, oneDNN's workspace and the loader's one-tensor buffer: measured
    /// ≈ 100–200 MB for SmolLM2-135M, so 256 MiB is allowed.
    public static let runtimeAllowance = 256 << 20

    public init(spec: ModelSpec, method: TrainingMethod, batchSize: Int, sequenceLength: Int) {
        let floats = 4, rows = batchSize * sequenceLength
        let layout = ParameterLayout(spec: spec)
        var parts = [Part(name: "model weights (F32)", bytes: layout.totalCount * floats)]
        let trainable: Int
        if let settings = method.loraSettings {
            let lora = LoRALayout(spec: spec, settings: settings)
            trainable = lora.totalCount
            parts.append(Part(name: "\(method.name) adapter (F32)", bytes: trainable * floats))
        } else {
            trainable = layout.totalCount
        }
        parts.append(Part(name: "gradients", bytes: trainable * floats))
        parts.append(Part(name: "AdamW moments", bytes: 2 * trainable * floats))
        parts.append(Part(name: "activations and backward scratch",
                          bytes: TrainingActivations.floatCount(spec: spec, batch: batchSize, seqLen: sequenceLength) * floats))
        if let settings = method.loraSettings {
            let lora = LoRALayout(spec: spec, settings: settings)
            parts.append(Part(name: "\(method.name) activations", bytes: LoRAActivations.floatCount(layout: lora, rows: rows) * floats))
        }
        parts.append(Part(name: "runtime, tokenizer, loader (allowance)", bytes: Self.runtimeAllowance))
        self.parts = parts
    }
}
